using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Agent.Tests;

/// <summary>A fresh directory under the system temp directory, deleted afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "conductor-agent-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

public static class Jobs
{
    private static long s_nextId = 1000;

    public static JobLaunch Launch(string workDir, string script, Func<JobLaunch, JobLaunch>? customize = null)
    {
        var job = new JobRecord
        {
            Id = new JobId(Interlocked.Increment(ref s_nextId)),
            Attempt = 1,
            State = JobState.Running,
            SubmitTime = DateTimeOffset.UtcNow,
            Spec = new JobSpec { Name = "test", Account = "alice", Partition = "batch", WorkDir = workDir },
        };
        var launch = new JobLaunch(job, script, new NodeName("node1"));
        return customize is null ? launch : customize(launch);
    }

    public static AgentOptions Options(string scriptsDirectory, TimeSpan? killWait = null) => new()
    {
        NodeName = "node1",
        ScriptsDirectory = scriptsDirectory,
        KillWait = killWait ?? TimeSpan.FromSeconds(1),
        MonitorInterval = TimeSpan.FromMilliseconds(200),
    };

    public static bool IsAlive(int pid) => ProcStat.Read(pid) is { IsZombie: false };

    public static bool SessionHasLiveProcesses(int sid) => ProcStat.All().Any(p => p.Session == sid && !p.IsZombie);
}

/// <summary>Tests that launch real processes run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ProcessCollection
{
    public const string Name = "real processes";
}

/// <summary>A fact that needs job cgroups: reported as skipped, with the reason, where this machine offers none to the agent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class CgroupFactAttribute : FactAttribute
{
    public CgroupFactAttribute()
    {
        if (!new Conductor.Agent.Monitoring.CgroupManager(Microsoft.Extensions.Logging.Abstractions.NullLogger<Conductor.Agent.Monitoring.CgroupManager>.Instance).IsAvailable)
        {
            Skip = "No job cgroups here (neither cgroup v2 nor v1's memory controller is writable by this user), so the kernel cannot enforce memory limits.";
        }
    }
}
