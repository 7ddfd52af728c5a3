using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>What becomes of a job when one of its attempts ends: the state it goes to and the message it keeps.</summary>
/// <param name="State">A terminal state (the job is finished), or <see cref="JobState.Pending"/> (it goes back to the queue).</param>
/// <param name="Error">The job's error message: why it ended, or why it was put back.</param>
/// <param name="Retry">True when a failed script is put back to be tried again (recorded as a retry event).</param>
public sealed record AttemptEnd(JobState State, string? Error, bool Retry = false)
{
    public bool Requeued => State == JobState.Pending;
}

/// <summary>How the store takes a report of an attempt's end.</summary>
public enum ReportVerdict
{
    /// <summary>The attempt is the job's current one and the job is RUNNING: write the reported state.</summary>
    Apply,

    /// <summary>The job was ended by someone else first (a user's cancel): keep that state, fill in what only the report knows.</summary>
    FillIn,

    /// <summary>The report is of an older attempt, or the job is gone or back in the queue: change nothing.</summary>
    Stale,
}

/// <summary>
/// Every decision about the end of an attempt, in one place, whoever learns of the end: the agent that watched the
/// job, the agent's recovery at its next start, or the node watchdog that declares a silent node down. Pure: the
/// callers carry the decisions out, and the store writes "back to PENDING" the same way for all of them.
/// </summary>
public static class JobTransitions
{
    /// <summary>
    /// How many times a job is put back in the queue after an attempt was lost (its node went down, its processes
    /// vanished) before a lost attempt ends it: Slurm's default <c>MaxBatchRequeue</c>. Restarts of any kind count.
    /// </summary>
    public const int MaxRequeues = 5;

    /// <summary>An attempt whose script ran and ended in <paramref name="state"/>: the job finishes in that state.</summary>
    public static AttemptEnd Finish(JobState state, string? error)
    {
        if (!state.IsTerminal())
        {
            throw new ArgumentOutOfRangeException(nameof(state), state, "An attempt finishes in a terminal state.");
        }

        return new AttemptEnd(state, error);
    }

    /// <summary>
    /// An attempt whose script failed (a non-zero exit): tried again while the job's <paramref name="maxRetries"/>
    /// are not used up (each earlier attempt used one), else the job ends FAILED.
    /// </summary>
    public static AttemptEnd ScriptFailed(string? error, int attempt, int maxRetries)
    {
        var used = attempt - 1;
        return used < maxRetries
            ? new AttemptEnd(JobState.Pending, string.Create(CultureInfo.InvariantCulture, $"{error}; trying again (retry {used + 1} of {maxRetries})"), Retry: true)
            : new AttemptEnd(JobState.Failed, error);
    }

    /// <summary>
    /// An attempt lost without an exit status (its node was declared down, its processes were gone): back to the
    /// queue when the job asked for <paramref name="requeue"/> and has been restarted fewer than
    /// <see cref="MaxRequeues"/> times, else the job ends in <paramref name="lostState"/> (FAILED, or NODE_FAIL for a
    /// node declared down).
    /// </summary>
    public static AttemptEnd Lost(JobState lostState, string reason, bool requeue, int attempt)
    {
        if (!lostState.IsTerminal())
        {
            throw new ArgumentOutOfRangeException(nameof(lostState), lostState, "A lost attempt that is not requeued ends the job.");
        }

        if (!requeue)
        {
            return new AttemptEnd(lostState, reason);
        }

        return attempt - 1 < MaxRequeues
            ? new AttemptEnd(JobState.Pending, reason + "; requeued as the job asked")
            : new AttemptEnd(lostState, string.Create(CultureInfo.InvariantCulture, $"{reason}; not requeued again after {MaxRequeues} restarts"));
    }

    /// <summary>
    /// An attempt placed on a node that never started its process: back to the queue, whatever the job asked, since
    /// nothing of it ran.
    /// </summary>
    public static AttemptEnd NeverStarted(string reason) => new(JobState.Pending, reason);

    /// <summary>An attempt stopped because a requeue was asked (scontrol requeue): back to the queue, as a new attempt.</summary>
    public static AttemptEnd Requeued(string reason) => new(JobState.Pending, reason);

    /// <summary>
    /// How a report that attempt <paramref name="reportedAttempt"/> ended in <paramref name="reported"/> is taken by a
    /// job that is now in <paramref name="current"/> at attempt <paramref name="currentAttempt"/>.
    /// </summary>
    public static ReportVerdict OnReport(JobState current, int currentAttempt, JobState reported, int reportedAttempt)
    {
        if (currentAttempt != reportedAttempt)
        {
            return ReportVerdict.Stale;
        }

        if (current == JobState.Running && JobStates.CanTransition(JobState.Running, reported))
        {
            return ReportVerdict.Apply;
        }

        return current.IsTerminal() ? ReportVerdict.FillIn : ReportVerdict.Stale;
    }
}
