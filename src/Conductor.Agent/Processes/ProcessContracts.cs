using Microsoft.Win32.SafeHandles;

namespace Conductor.Agent.Processes;

/// <summary>
/// What to run: <paramref name="Executable"/> with <paramref name="Argv"/> (argv[0] included) and exactly
/// <paramref name="Environment"/>, in a new session, stdin from /dev/null, stdout (and stderr, unless
/// <paramref name="StderrPath"/> names another file) truncated into <paramref name="StdoutPath"/>.
/// </summary>
public sealed record LaunchRequest(
    string Executable,
    IReadOnlyList<string> Argv,
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory,
    string StdoutPath,
    string? StderrPath)
{
    /// <summary>The CPUs the process (and everything it starts) may run on; empty for no pinning.</summary>
    public IReadOnlyList<int> CpuIds { get; init; } = [];

    /// <summary>
    /// Output files and working directory opened beforehand (with the job's user's rights); when given they are used
    /// instead of <see cref="StdoutPath"/>, <see cref="StderrPath"/> and <see cref="WorkingDirectory"/>, so the spawn
    /// itself opens nothing and cannot block.
    /// </summary>
    public LaunchFiles? Files { get; init; }
}

/// <summary>A job's opened output files and working directory, handed to the process at spawn.</summary>
public sealed record LaunchFiles(SafeFileHandle Stdout, SafeFileHandle? Stderr, SafeFileHandle WorkingDirectory) : IDisposable
{
    public void Dispose()
    {
        Stdout.Dispose();
        Stderr?.Dispose();
        WorkingDirectory.Dispose();
    }
}

/// <summary>
/// A launched session leader. The pid is never trusted alone: <paramref name="StartTicks"/> (field 22 of
/// /proc/&lt;pid&gt;/stat) tells this process from a later one that reuses the pid. The leader's pid is also the
/// job's process group id and session id.
/// </summary>
public sealed record LaunchedProcess(int Pid, long StartTicks)
{
    /// <summary>False for a process adopted after a restart: it is not this agent's child, so it cannot be reaped.</summary>
    public bool IsChild { get; init; } = true;

    /// <summary>The cgroup.procs file of the job's own cgroup, when it has one: every process of the job is listed there.</summary>
    public string? CgroupProcsPath { get; init; }

    /// <summary>True while a process with this pid and this start time exists and has not exited.</summary>
    public bool IsAlive => ProcStat.Read(Pid) is { } stat && stat.StartTicks == StartTicks && !stat.IsZombie;
}

/// <summary>
/// How a reaped process ended: its raw wait(2) status (null when it was not this agent's child) and the resources
/// it and the descendants it waited for used.
/// </summary>
public sealed record ProcessExit(int? WaitStatus, double CpuSeconds, long MaxRssKiB);

/// <summary>The launch itself failed (e.g. the interpreter does not exist); no process runs.</summary>
public sealed class ProcessLaunchException : Exception
{
    public ProcessLaunchException()
    {
    }

    public ProcessLaunchException(string message)
        : base(message)
    {
    }

    public ProcessLaunchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Starts job processes and waits for them.</summary>
public interface IProcessLauncher
{
    /// <summary>Starts the process; throws <see cref="ProcessLaunchException"/> when it cannot be started.</summary>
    LaunchedProcess Launch(LaunchRequest request);

    /// <summary>
    /// Completes when the session leader has exited, without reaping it: until <see cref="Reap"/> its pid, and so
    /// its process group and session id, cannot be reused, which makes signalling the rest of the group safe.
    /// </summary>
    Task WaitForLeaderExitAsync(LaunchedProcess process);

    /// <summary>Reaps the exited leader and returns its status and resource use (nothing to reap for an adopted process).</summary>
    ProcessExit Reap(LaunchedProcess process);
}

/// <summary>Signals every process of a job.</summary>
public interface ISignalSender
{
    /// <summary>
    /// Sends <paramref name="signal"/> to the job's process group, to every other live process of its session and to
    /// every process of its cgroup. Returns how many live (non-zombie) processes, the leader excluded, were found.
    /// </summary>
    int SignalJob(LaunchedProcess process, int signal);

    /// <summary>Signals the direct children of the process (the batch script under the wrapper); returns how many it found.</summary>
    int SignalChildren(LaunchedProcess process, int signal);
}
