using System.Globalization;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Execution;

/// <summary>Why the agent stopped a job; the first reason wins.</summary>
public enum StopReason
{
    None,
    TimeLimit,
    UserCancel,
    Shutdown,

    /// <summary>The store no longer gives this node this attempt (the job moved or was requeued).</summary>
    Fenced,
}

public enum OutcomeKind
{
    Completed,
    Failed,
    TimedOut,
    Cancelled,

    /// <summary>No process ran: preparing the job or spawning it failed.</summary>
    LaunchFailed,

    /// <summary>The agent shut down while the job was running and stopped it.</summary>
    ShutDown,

    Fenced,
}

/// <summary>How one attempt of a job ended, as a value.</summary>
public sealed record JobOutcome(OutcomeKind Kind, ExitCode ExitCode, string? Error)
{
    /// <summary>
    /// The exit code reported for a launch failure. No process ran, so there is no wait status; 1:0 marks it as a
    /// failure without pretending a signal was involved.
    /// </summary>
    public static ExitCode LaunchFailureExitCode { get; } = ExitCode.Exited(1);

    public const string ShutdownMessage = "the agent shut down while the job was running";

    public JobState State => Kind switch
    {
        OutcomeKind.Completed => JobState.Completed,
        OutcomeKind.TimedOut => JobState.Timeout,
        OutcomeKind.Cancelled or OutcomeKind.Fenced => JobState.Cancelled,
        _ => JobState.Failed,
    };

    public static JobOutcome LaunchFailed(string message) => new(OutcomeKind.LaunchFailed, LaunchFailureExitCode, message);

    /// <summary>The outcome of a process that ended with <paramref name="exit"/> after <paramref name="stop"/>.</summary>
    public static JobOutcome FromExit(ExitCode exit, StopReason stop, TimeSpan? timeLimit) => stop switch
    {
        StopReason.None when exit.IsSuccess => new(OutcomeKind.Completed, exit, null),
        StopReason.None => new(OutcomeKind.Failed, exit, Describe(exit)),
        StopReason.TimeLimit => new(OutcomeKind.TimedOut, exit,
            "the time limit" + (timeLimit is { } t ? " of " + t.ToString("c", CultureInfo.InvariantCulture) : "") + " was reached"),
        StopReason.UserCancel => new(OutcomeKind.Cancelled, exit, "cancelled"),
        StopReason.Shutdown => new(OutcomeKind.ShutDown, exit, ShutdownMessage),
        StopReason.Fenced => new(OutcomeKind.Fenced, exit, "stopped: this attempt of the job no longer belongs to the node"),
        _ => throw new ArgumentOutOfRangeException(nameof(stop), stop, null),
    };

    /// <summary>"Exited with code N" or "Killed by signal S (SIGxxx)".</summary>
    public static string Describe(ExitCode exit) => exit.Signal != 0
        ? string.Create(CultureInfo.InvariantCulture, $"Killed by signal {exit.Signal} ({SignalNames.Name(exit.Signal)})")
        : string.Create(CultureInfo.InvariantCulture, $"Exited with code {exit.Code}");
}

public static class SignalNames
{
    private static readonly string[] Names =
    [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR",
        "SIGSYS",
    ];

    /// <summary>The Linux name of a signal number, e.g. 9 → SIGKILL, 36 → SIGRTMIN+2.</summary>
    public static string Name(int signal) => signal switch
    {
        > 0 and < 32 => Names[signal],
        34 => "SIGRTMIN",
        >= 34 and <= 64 => string.Create(CultureInfo.InvariantCulture, $"SIGRTMIN+{signal - 34}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"signal {signal}"),
    };
}
