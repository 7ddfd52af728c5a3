using System.Globalization;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Execution;

/// <summary>Why the agent stopped a job; the first reason wins.</summary>
public enum StopReason
{
    None,
    TimeLimit,
    UserCancel,

    /// <summary>The job went over its memory limit (found by the monitor where no cgroup enforces it).</summary>
    OutOfMemory,

    /// <summary>The store no longer gives this node this attempt (the job moved or was requeued).</summary>
    Fenced,

    /// <summary>A requeue was asked (scontrol requeue): the job is stopped and goes back to the queue.</summary>
    Requeue,
}

public enum OutcomeKind
{
    Completed,
    Failed,
    TimedOut,
    Cancelled,
    OutOfMemory,

    /// <summary>No process ran: preparing the job or spawning it failed.</summary>
    LaunchFailed,

    Fenced,

    /// <summary>The job's processes ended while nobody watched and left no exit status.</summary>
    Lost,

    /// <summary>The agent stopped watching (it is shutting down); the job goes on and is adopted at the next start.</summary>
    Detached,

    /// <summary>Stopped because a requeue was asked: the job goes back to the queue.</summary>
    Requeued,
}

/// <summary>How one attempt of a job ended, as a value.</summary>
public sealed record JobOutcome(OutcomeKind Kind, ExitCode ExitCode, string? Error)
{
    /// <summary>
    /// The exit code reported for a launch failure. No process ran, so there is no wait status; 1:0 marks it as a
    /// failure without pretending a signal was involved.
    /// </summary>
    public static ExitCode LaunchFailureExitCode { get; } = ExitCode.Exited(1);

    public static JobOutcome Detached { get; } = new(OutcomeKind.Detached, ExitCode.Success, null);

    public JobState State => Kind switch
    {
        OutcomeKind.Completed => JobState.Completed,
        OutcomeKind.TimedOut => JobState.Timeout,
        OutcomeKind.Cancelled or OutcomeKind.Fenced => JobState.Cancelled,
        OutcomeKind.OutOfMemory => JobState.OutOfMemory,
        _ => JobState.Failed,
    };

    public static JobOutcome LaunchFailed(string message) => new(OutcomeKind.LaunchFailed, LaunchFailureExitCode, message);

    /// <summary>
    /// The outcome of a process that ended with <paramref name="exit"/> (null when no status could be learnt)
    /// after <paramref name="stop"/>; <paramref name="oomKilled"/> when the kernel killed it for its memory limit.
    /// </summary>
    public static JobOutcome FromExit(ExitCode? exit, StopReason stop, TimeSpan? timeLimit, long? memoryMiB = null, bool oomKilled = false)
    {
        if (oomKilled || stop == StopReason.OutOfMemory)
        {
            var limit = memoryMiB is { } m ? " of " + Core.Parsing.MemorySize.Format(m) : "";
            return new(OutcomeKind.OutOfMemory, exit ?? ExitCode.Killed(9), $"the job used more than its memory limit{limit} and was killed");
        }

        if (exit is not { } code)
        {
            return stop switch
            {
                StopReason.TimeLimit => new(OutcomeKind.TimedOut, ExitCode.Killed(15), TimeLimitReached(timeLimit)),
                StopReason.UserCancel => new(OutcomeKind.Cancelled, ExitCode.Killed(15), "cancelled"),
                StopReason.Requeue => new(OutcomeKind.Requeued, ExitCode.Killed(15), RequeuedMessage),
                _ => new(OutcomeKind.Lost, ExitCode.Exited(1),
                    "the job's processes ended while the agent was not running and left no exit status (the node or the agent stopped while it ran)"),
            };
        }

        return stop switch
        {
            StopReason.None when code.IsSuccess => new(OutcomeKind.Completed, code, null),
            StopReason.None => new(OutcomeKind.Failed, code, Describe(code)),
            StopReason.TimeLimit => new(OutcomeKind.TimedOut, code, TimeLimitReached(timeLimit)),
            StopReason.UserCancel => new(OutcomeKind.Cancelled, code, "cancelled"),
            StopReason.Fenced => new(OutcomeKind.Fenced, code, "stopped: this attempt of the job no longer belongs to the node"),
            StopReason.Requeue => new(OutcomeKind.Requeued, code, RequeuedMessage),
            _ => throw new ArgumentOutOfRangeException(nameof(stop), stop, null),
        };
    }

    /// <summary>"Exited with code N" or "Killed by signal S (SIGxxx) ...", with what the code usually means.</summary>
    public static string Describe(ExitCode exit) => exit.Signal != 0
        ? string.Create(CultureInfo.InvariantCulture, $"Killed by signal {exit.Signal} ({SignalNames.Name(exit.Signal)}), which Conductor did not send")
        : exit.Code switch
        {
            126 => "Exited with code 126: the script or its interpreter could not be executed",
            127 => "Exited with code 127: the script's interpreter or a command was not found",
            _ => string.Create(CultureInfo.InvariantCulture, $"Exited with code {exit.Code}"),
        };

    private const string RequeuedMessage = "stopped and put back in the queue: a requeue was asked";

    private static string TimeLimitReached(TimeSpan? timeLimit) =>
        "the time limit" + (timeLimit is { } t ? " of " + Core.Parsing.TimeLimitFormat.FormatDuration(t) : "") + " was reached";
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
