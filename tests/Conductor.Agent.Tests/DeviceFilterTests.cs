using System.Diagnostics;
using System.Globalization;
using Conductor.Agent.Hosting;
using Conductor.Agent.Monitoring;
using Conductor.Core.Scheduling;

namespace Conductor.Agent.Tests;

/// <summary>The device filters of both cgroup versions, in real groups of this machine's kernel.</summary>
public sealed class DeviceFilterTests
{
    private static readonly DeviceNumber Full = DeviceNumber.OfCharacterDevice("/dev/full")!.Value;

    [Fact]
    public void OfCharacterDevice_ReadsTheNumber_AndRefusesWhatIsNotACharacterDevice()
    {
        Assert.Equal(new DeviceNumber(1, 7), Full);
        Assert.Equal(new DeviceNumber(1, 5), DeviceNumber.OfCharacterDevice("/dev/zero"));
        Assert.Null(DeviceNumber.OfCharacterDevice("/etc/passwd"));
        Assert.Null(DeviceNumber.OfCharacterDevice("/dev/no-such-device"));
    }

    [Fact]
    public void Denied_IsEveryGpuButTheJobsOwn()
    {
        var gpus = new Dictionary<int, DeviceNumber> { [0] = new(195, 0), [1] = new(195, 1), [2] = new(195, 2) };

        Assert.Equal([new DeviceNumber(195, 0), new DeviceNumber(195, 2)], GpuDevices.Denied(gpus, [new GresDevice("gpu", 1)]));
        Assert.Equal(gpus.Values, GpuDevices.Denied(gpus, []));
        Assert.Empty(GpuDevices.Denied(gpus, [new GresDevice("gpu", 0), new GresDevice("gpu", 1), new GresDevice("gpu", 2)]));
    }

    [Fact]
    public void Numbers_FollowTheConfiguredFiles_ByIndex()
    {
        var options = new AgentOptions { Gres = "gpu:3", GpuDeviceFiles = ["/dev/zero", "/etc/passwd", "/dev/full"] };

        Assert.Equal(new Dictionary<int, DeviceNumber> { [0] = new(1, 5), [2] = new(1, 7) }, GpuDevices.Numbers(options));
    }

    [DeviceCgroupFact(V2: true)]
    public void AttachV2_KeepsTheGroupsProcessesFromTheDeniedDevice_AndNoOther()
    {
        var group = DeviceCgroupFactAttribute.NewGroup(v2: true);
        try
        {
            DeviceFilter.AttachV2(group, [new DeviceNumber(1, 9), Full]);
            Assert.Equal("/dev/zero:open /dev/full:denied", ProbeIn(group));
        }
        finally
        {
            Directory.Delete(group);
        }
    }

    [DeviceCgroupFact(V2: false)]
    public void DenyV1_KeepsTheGroupsProcessesFromTheDeniedDevice_AndNoOther()
    {
        var group = DeviceCgroupFactAttribute.NewGroup(v2: false);
        try
        {
            DeviceFilter.DenyV1(group, [Full]);
            Assert.Equal("/dev/zero:open /dev/full:denied", ProbeIn(group));
        }
        finally
        {
            Directory.Delete(group);
        }
    }

    /// <summary>Joins the group in a shell and tries to read one byte of each device.</summary>
    private static string ProbeIn(string group)
    {
        var info = new ProcessStartInfo("/bin/sh")
        {
            ArgumentList =
            {
                "-c",
                "echo $$ > \"$1/cgroup.procs\" || exit 125; for f in /dev/zero /dev/full; do if head -c1 $f >/dev/null 2>&1; then echo $f:open; else echo $f:denied; fi; done",
                "probe",
                group,
            },
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output.ReplaceLineEndings(" ").Trim();
    }
}

/// <summary>A fact that needs a writable cgroup hierarchy of one version with device control: skipped, with the reason, elsewhere.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class DeviceCgroupFactAttribute : FactAttribute
{
    public DeviceCgroupFactAttribute(bool V2)
    {
        if (Hierarchy(V2) is null)
        {
            Skip = V2 ? "No writable cgroup v2 hierarchy here." : "No writable cgroup v1 devices controller here.";
        }
    }

    /// <summary>The unified hierarchy (alone, or beside v1's as /sys/fs/cgroup/unified), or v1's devices controller.</summary>
    private static string? Hierarchy(bool v2)
    {
        var root = v2
            ? File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified"
            : "/sys/fs/cgroup/devices";
        var marker = Path.Combine(root, v2 ? "cgroup.procs" : "devices.deny");
        try
        {
            if (!File.Exists(marker))
            {
                return null;
            }

            var probe = Path.Combine(root, "conductor-probe-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
            return root;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static string NewGroup(bool v2)
    {
        var group = Path.Combine(Hierarchy(v2)!, "conductor-device-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(group);
        return group;
    }
}
