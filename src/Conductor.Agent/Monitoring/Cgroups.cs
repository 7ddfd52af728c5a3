using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Monitoring;

/// <summary>
/// A job's own cgroup: every process the job starts is in it (setsid and double fork included; the group belongs to
/// root and the job cannot leave it), so all of them are found and killed at the job's end, and the kernel enforces
/// the job's memory limit there.
/// </summary>
public interface IJobCgroup : IDisposable
{
    /// <summary>The cgroup.procs file of the job's group: its processes.</summary>
    string ProcsPath { get; }

    /// <summary>
    /// Every cgroup.procs file the job's wrapper writes its pid to before the job starts: the job's group, and under
    /// cgroup v1 also its group in the devices hierarchy when the job may not open some devices.
    /// </summary>
    IReadOnlyList<string> JoinPaths => [ProcsPath];

    /// <summary>
    /// The resident memory of the group's processes now, in KiB (anonymous memory, as <c>anon</c> in cgroup v2's
    /// memory.stat or <c>rss</c> in v1's), when the kernel reports it. Page cache is not counted: it is not the job's
    /// resident set (a job that writes files would otherwise show the cache it filled).
    /// </summary>
    long? ResidentKiB();

    /// <summary>True when the kernel's OOM killer has killed a process of the group.</summary>
    bool OomKilled();
}

/// <summary>Creates job cgroups where the machine lets the agent: cgroup v2, or v1's memory controller.</summary>
public interface ICgroupManager
{
    /// <summary>Whether jobs get cgroups here; otherwise the process monitor enforces memory limits and a job is its session.</summary>
    bool IsAvailable { get; }

    /// <summary>How jobs are contained here, in a few words (shown with the node).</summary>
    string Containment => IsAvailable ? "cgroup" : "session only (no cgroups)";

    /// <summary>
    /// A new cgroup for the job, with its memory limit when it has one and without access to the
    /// <paramref name="deniedDevices"/> (the node's GPUs it was not given), or null when cgroups cannot be used.
    /// </summary>
    IJobCgroup? Create(string name, long? memoryLimitMiB, IReadOnlyList<DeviceNumber>? deniedDevices = null);

    /// <summary>The job's existing cgroup (an adopted job's), or null.</summary>
    IJobCgroup? Open(string name);
}

/// <summary>
/// Finds the agent's own cgroup (from /proc/self/cgroup) and creates job groups beneath it: under the unified
/// hierarchy (v2) with memory.max, or under v1's memory controller with memory.limit_in_bytes (and the
/// memory+swap limit, so that a job cannot swap its way past the limit). If the agent may not create groups there,
/// it says so once and <see cref="IsAvailable"/> is false.
/// </summary>
public sealed class CgroupManager : ICgroupManager
{
    private readonly ILogger<CgroupManager> _logger;
    private readonly string? _parent;
    private readonly bool _v2;
    private readonly string? _devicesParent;

    public CgroupManager(ILogger<CgroupManager> logger)
    {
        _logger = logger;
        (_parent, _v2) = FindParent();
        _devicesParent = _parent is null || _v2 ? null : FindDevicesParent();
        if (_parent is null)
        {
            logger.LogWarning(
                "No writable cgroup: memory limits are enforced by the process monitor, and a job's processes that leave its session (setsid, double fork) are not contained");
        }
        else
        {
            logger.LogInformation("Every job runs in its own cgroup ({Version}, under {Path}), which holds all its processes and its memory limit", _v2 ? "v2" : "v1", _parent);
        }
    }

    public bool IsAvailable => _parent is not null;

    /// <summary>How jobs are contained here, in a few words for the node list.</summary>
    public string Containment => _parent is null ? "session only (no cgroups)" : _v2 ? "cgroup v2" : "cgroup v1";

    public IJobCgroup? Create(string name, long? memoryLimitMiB, IReadOnlyList<DeviceNumber>? deniedDevices = null)
    {
        if (_parent is null)
        {
            return null;
        }

        var path = Path.Combine(_parent, name);
        try
        {
            Directory.CreateDirectory(path);
            if (memoryLimitMiB is { } limit)
            {
                var bytes = (limit * 1024 * 1024).ToString(CultureInfo.InvariantCulture);
                if (_v2)
                {
                    File.WriteAllText(Path.Combine(path, "memory.max"), bytes);
                    TryWrite(Path.Combine(path, "memory.swap.max"), "0");
                }
                else
                {
                    File.WriteAllText(Path.Combine(path, "memory.limit_in_bytes"), bytes);
                    TryWrite(Path.Combine(path, "memory.memsw.limit_in_bytes"), bytes);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Could not create cgroup {Path}: {Error}; the process monitor enforces this job's memory limit", path, e.Message);
            TryRemove(path);
            return null;
        }

        return new JobCgroup(path, _v2, DenyDevices(name, path, deniedDevices ?? []), _logger);
    }

    /// <summary>
    /// Keeps the job from the denied devices: a program on its v2 group, or a group of its own in v1's devices
    /// hierarchy (returned: the wrapper joins it too). A machine that allows neither runs the job without the filter.
    /// </summary>
    private string? DenyDevices(string name, string path, IReadOnlyList<DeviceNumber> denied)
    {
        if (denied.Count == 0)
        {
            return null;
        }

        try
        {
            if (_v2)
            {
                DeviceFilter.AttachV2(path, denied);
                return null;
            }

            if (_devicesParent is null)
            {
                throw new IOException("the devices controller is not available");
            }

            var group = Path.Combine(_devicesParent, name);
            Directory.CreateDirectory(group);
            DeviceFilter.DenyV1(group, denied);
            return group;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Could not keep job group {Name} from the devices {Devices} it was not given: {Error}",
                name, string.Join(',', denied), e.Message);
            if (_devicesParent is not null)
            {
                TryRemove(Path.Combine(_devicesParent, name));
            }

            return null;
        }
    }

    public IJobCgroup? Open(string name)
    {
        if (_parent is null)
        {
            return null;
        }

        var path = Path.Combine(_parent, name);
        var devices = _devicesParent is null ? null : Path.Combine(_devicesParent, name);
        return Directory.Exists(path) ? new JobCgroup(path, _v2, devices is not null && Directory.Exists(devices) ? devices : null, _logger) : null;
    }

    private static void TryWrite(string path, string value)
    {
        try
        {
            if (File.Exists(path))
            {
                File.WriteAllText(path, value);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Swap accounting is optional.
        }
    }

    internal static void TryRemove(string path)
    {
        for (var i = 0; i < 50; i++)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path);
                }

                return;
            }
            catch (IOException)
            {
                // The last processes are still leaving the group.
                Thread.Sleep(10);
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }

    /// <summary>The directory under which job groups can be made, and whether it is cgroup v2.</summary>
    private static (string? Path, bool V2) FindParent()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/self/cgroup");
            if (File.Exists("/sys/fs/cgroup/cgroup.controllers"))
            {
                var own = lines.FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
                return own is null ? (null, false) : (Probe(Path.Join("/sys/fs/cgroup", own), v2: true), true);
            }

            var memory = lines.Select(l => l.Split(':', 3)).FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains("memory"));
            return memory is null || !Directory.Exists("/sys/fs/cgroup/memory")
                ? (null, false)
                : (Probe(Path.Join("/sys/fs/cgroup/memory", memory[2]), v2: false), false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, false);
        }
    }

    /// <summary>Under cgroup v1: a "conductor" group beneath the agent's own in the devices hierarchy, if it may create it.</summary>
    private static string? FindDevicesParent()
    {
        try
        {
            var devices = File.ReadAllLines("/proc/self/cgroup").Select(l => l.Split(':', 3))
                .FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains("devices"));
            if (devices is null || !Directory.Exists("/sys/fs/cgroup/devices"))
            {
                return null;
            }

            var root = Path.Combine(Path.Join("/sys/fs/cgroup/devices", devices[2]), "conductor");
            Directory.CreateDirectory(root);
            return File.Exists(Path.Combine(root, "devices.deny")) ? root : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A "conductor" group beneath the agent's own, if the agent may create it and set limits in it.</summary>
    private static string? Probe(string own, bool v2)
    {
        var root = Path.Combine(own, "conductor");
        var probe = Path.Combine(root, "probe-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        try
        {
            Directory.CreateDirectory(root);
            if (v2)
            {
                // Under v2 a group's controllers must be enabled by its parent.
                var subtree = Path.Combine(own, "cgroup.subtree_control");
                if (File.Exists(subtree) && !File.ReadAllText(subtree).Contains("memory", StringComparison.Ordinal))
                {
                    File.WriteAllText(subtree, "+memory");
                }

                File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "+memory");
            }

            Directory.CreateDirectory(probe);
            var limitFile = Path.Combine(probe, v2 ? "memory.max" : "memory.limit_in_bytes");
            if (!File.Exists(limitFile))
            {
                return null;
            }

            File.WriteAllText(limitFile, (64L * 1024 * 1024).ToString(CultureInfo.InvariantCulture));
            return root;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        finally
        {
            TryRemove(probe);
        }
    }

    private sealed class JobCgroup(string path, bool v2, string? devicesGroup, ILogger logger) : IJobCgroup
    {
        public string ProcsPath => Path.Combine(path, "cgroup.procs");

        public IReadOnlyList<string> JoinPaths => devicesGroup is null ? [ProcsPath] : [ProcsPath, Path.Combine(devicesGroup, "cgroup.procs")];

        public long? ResidentKiB()
        {
            var key = v2 ? "anon" : "rss";
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(path, "memory.stat")))
                {
                    var space = line.IndexOf(' ', StringComparison.Ordinal);
                    if (space == key.Length && line.StartsWith(key, StringComparison.Ordinal) &&
                        long.TryParse(line.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes))
                    {
                        return bytes / 1024;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogDebug("Could not read the memory.stat of {Cgroup}: {Error}", path, e.Message);
            }

            return null;
        }

        public bool OomKilled()
        {
            var file = Path.Combine(path, v2 ? "memory.events" : "memory.oom_control");
            try
            {
                foreach (var line in File.ReadLines(file))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length == 2 && parts[0] == "oom_kill" && parts[1] != "0")
                    {
                        return true;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogDebug("Could not read {File}: {Error}", file, e.Message);
            }

            return false;
        }

        public void Dispose()
        {
            TryRemove(path);
            if (devicesGroup is not null)
            {
                TryRemove(devicesGroup);
            }
        }
    }
}
