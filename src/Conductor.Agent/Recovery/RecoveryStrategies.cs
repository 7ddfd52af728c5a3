using System.Globalization;
using Conductor.Agent.Execution;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Agent.Recovery;

/// <summary>One job the node was running when its agent last stopped, as recovery finds it now.</summary>
public sealed record RecoveryCandidate(Dispatch Dispatch, JobDirectory Directory, LaunchedProcess? Live, ExitCode? Status)
{
    public JobRecord Job => Dispatch.Job;

    public bool Launched => Job.ProcessId is not null;

    public bool PastTimeLimit(DateTimeOffset now) =>
        Job.Spec.TimeLimit is { } limit && Job.StartTime is { } start && now - start >= limit;
}

/// <summary>What a strategy decided for a job.</summary>
public abstract record RecoveryAction(string Description)
{
    /// <summary>Adopt the live job: watch it, keep its time limit and cancel working, collect its status.</summary>
    public sealed record Adopt(LaunchedProcess Process, bool StopForTimeLimit, string Why) : RecoveryAction(Why);

    /// <summary>Record the attempt's end (or put the job back in the queue with state PENDING).</summary>
    public sealed record Finish(JobState State, ExitCode Exit, string? Error, string Why) : RecoveryAction(Why);
}

/// <summary>
/// A rule for the jobs an agent finds assigned to its node when it starts. A strategy returns an action for a job
/// it handles, or null to leave it to the next strategy. Strategies are pure decisions: the recovery service
/// carries the actions out.
/// </summary>
public interface IRecoveryStrategy
{
    string Name { get; }

    RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now);
}

/// <summary>Still running past its time limit: adopt it and stop it at once; it ends TIMEOUT.</summary>
public sealed class TimeLimitRecovery : IRecoveryStrategy
{
    public string Name => "time limit";

    public RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now) =>
        candidate.Live is { } live && candidate.PastTimeLimit(now)
            ? new RecoveryAction.Adopt(live, StopForTimeLimit: true, "still running past its time limit: stopped")
            : null;
}

/// <summary>Still running: adopt it (identified by pid and process start time, never a bare pid).</summary>
public sealed class LiveJobAdoption : IRecoveryStrategy
{
    public string Name => "adoption";

    public RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now) =>
        candidate.Live is { } live
            ? new RecoveryAction.Adopt(live, StopForTimeLimit: false, string.Create(CultureInfo.InvariantCulture, $"still running as pid {live.Pid}: adopted"))
            : null;
}

/// <summary>Ended while the agent was away and left its exit status: record the real end.</summary>
public sealed class FinishedWhileAwayRecovery : IRecoveryStrategy
{
    public string Name => "finished while away";

    public RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now)
    {
        if (candidate.Live is not null || candidate.Status is not { } status)
        {
            return null;
        }

        // Decided as the agent would have decided it had it watched: a failed script is retried while retries are left.
        var job = candidate.Job;
        var outcome = JobOutcome.FromExit(status, StopReason.None, job.Spec.TimeLimit);
        var end = outcome.Kind == OutcomeKind.Failed
            ? JobTransitions.ScriptFailed(outcome.Error, job.Attempt, job.Spec.MaxRetries)
            : JobTransitions.Finish(outcome.State, outcome.Error);
        return new RecoveryAction.Finish(end.State, status, end.Error,
            end.Retry ? $"ended while the agent was away with {status}: retried" : $"ended while the agent was away with {status}");
    }
}

/// <summary>
/// Launched, but its processes are gone and no status was written (the node rebooted, or the job was killed while
/// the agent was down): FAILED with the reason, or back to PENDING when the job asked to be requeued.
/// </summary>
public sealed class OrphanJobRecovery : IRecoveryStrategy
{
    public const string Reason =
        "the job's processes were gone when the agent restarted and left no exit status (the node or the agent stopped while it ran)";

    public string Name => "orphan";

    public RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now)
    {
        if (candidate.Live is not null || candidate.Status is not null || !candidate.Launched)
        {
            return null;
        }

        var end = JobTransitions.Lost(JobState.Failed, Reason, candidate.Job.Spec.Requeue, candidate.Job.Attempt);
        return new RecoveryAction.Finish(end.State, ExitCode.Killed(9), end.Error, end.Requeued ? "orphaned: requeued" : "orphaned: failed");
    }
}

/// <summary>Placed on the node but never started (no launch record, no process, no status): back to PENDING.</summary>
public sealed class NeverStartedRecovery : IRecoveryStrategy
{
    public string Name => "never started";

    public RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now)
    {
        if (candidate.Live is not null || candidate.Status is not null || candidate.Launched)
        {
            return null;
        }

        var end = JobTransitions.NeverStarted("dispatched to the node but never started before the agent stopped; back in the queue");
        return new RecoveryAction.Finish(end.State, ExitCode.Success, end.Error, "never started: requeued");
    }
}

/// <summary>Strategies tried in order; the first that decides wins.</summary>
public sealed class CompositeRecoveryStrategy(IEnumerable<IRecoveryStrategy> strategies) : IRecoveryStrategy
{
    private readonly IRecoveryStrategy[] _strategies = strategies.ToArray();

    public string Name => string.Join(", ", _strategies.Select(s => s.Name));

    public IReadOnlyList<IRecoveryStrategy> Strategies => _strategies;

    public RecoveryAction? Decide(RecoveryCandidate candidate, DateTimeOffset now)
    {
        foreach (var strategy in _strategies)
        {
            if (strategy.Decide(candidate, now) is { } action)
            {
                return action;
            }
        }

        return null;
    }

    /// <summary>The default order: time limit, adoption, finished while away, orphan, never started.</summary>
    public static CompositeRecoveryStrategy Default() =>
        new([new TimeLimitRecovery(), new LiveJobAdoption(), new FinishedWhileAwayRecovery(), new OrphanJobRecovery(), new NeverStartedRecovery()]);
}
