using Conductor.Core.Jobs;

namespace Conductor.Core.Scheduling;

/// <summary>
/// What the store knows of one dependency target: how many of its rows (one for a job; every task for an array, an
/// unstarted task counting as pending) are in each state, and the latest start (or end, for a job cancelled before it
/// started) among them.
/// </summary>
public readonly record struct TargetStatus(int Pending, int Running, int Completed, int Failed, DateTimeOffset? LastStart)
{
    public bool Ended => Pending == 0 && Running == 0;
}

/// <summary>
/// A pending job with a dependency, and the status of each term's target (null: no such job any more). For an
/// <c>aftercorr</c> term of an array task <c>B_k</c> the target's status is that of the task <c>A_k</c> it pairs with,
/// or of the whole of <c>A</c> when <c>A</c> has no task <c>k</c>.
/// </summary>
public sealed record DependentJob(JobId Id, string Name, string User, Dependency Dependency, IReadOnlyList<TargetStatus?> Targets)
{
    /// <summary>True on an array's row that still holds unstarted tasks: its <c>aftercorr</c> terms are judged task by task once split off.</summary>
    public bool ArrayHolder { get; init; }

    /// <summary>The job's own <c>--kill-on-invalid-dep</c>; null follows the server's.</summary>
    public bool? KillOnInvalid { get; init; }
}

/// <summary>What a job's dependency comes to now.</summary>
/// <param name="Drop">The dependency is met for good: the store forgets it (Slurm then shows <c>(null)</c>).</param>
public sealed record DependencyVerdict(JobId Id, DependencyState State, IReadOnlyList<DependencyState> Terms, bool Drop)
{
    /// <summary>The job's own <c>--kill-on-invalid-dep</c>; null follows the server's.</summary>
    public bool? KillOnInvalid { get; init; }

    /// <summary>The reason that keeps the job out of the pass, or null when it may start.</summary>
    public string? Ineligible => State switch
    {
        DependencyState.Unfulfilled => PendingReasons.Dependency,
        DependencyState.Failed => PendingReasons.DependencyNeverSatisfied,
        _ => null,
    };
}

/// <summary>
/// The dependency gate of a scheduling pass (Slurm's meaning): which pending jobs wait for a dependency, which can
/// never have it met, and which may start. Pure: the store reads the targets' states, this decides.
/// </summary>
public static class DependencyGate
{
    /// <summary>
    /// Judges the snapshot's dependents: a job whose dependency is not met gets its reason in
    /// <see cref="PendingJob.Ineligible"/> (unless another gate already set one); the verdicts travel with the snapshot.
    /// Costs nothing for a snapshot without dependents, and one pass over the pending jobs otherwise.
    /// </summary>
    public static SchedulerSnapshot Apply(SchedulerSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Dependents.Count == 0)
        {
            return snapshot;
        }

        var verdicts = Evaluate(snapshot.Dependents, snapshot.SingletonsRunning, now);
        var gated = new Dictionary<JobId, string>();
        foreach (var verdict in verdicts)
        {
            if (verdict.Ineligible is { } reason)
            {
                gated[verdict.Id] = reason;
            }
        }

        var pending = snapshot.Pending;
        if (gated.Count > 0)
        {
            var copy = new PendingJob[pending.Count];
            for (var i = 0; i < copy.Length; i++)
            {
                var job = pending[i];
                copy[i] = job.Ineligible is null && gated.TryGetValue(job.Id, out var reason) ? job with { Ineligible = reason } : job;
            }

            pending = copy;
        }

        return snapshot with { Pending = pending, DependencyVerdicts = verdicts };
    }

    /// <summary>
    /// Judges each job; <paramref name="running"/> holds the (name, user) pairs that have a running job, for
    /// <c>singleton</c>. Of several pending singleton jobs of one name and user, only the first (by id) whose other
    /// terms are met may start, so that two never start in one pass.
    /// </summary>
    public static IReadOnlyList<DependencyVerdict> Evaluate(IEnumerable<DependentJob> jobs, IReadOnlySet<(string Name, string User)> running, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var claimed = new HashSet<(string, string)>(running);
        var verdicts = new List<DependencyVerdict>();
        foreach (var job in jobs.OrderBy(j => j.Id))
        {
            var terms = job.Dependency.Terms;
            var states = new DependencyState[terms.Count];
            var singleton = false;
            for (var i = 0; i < terms.Count; i++)
            {
                if (terms[i].Kind == DependencyKind.Singleton)
                {
                    singleton = true;
                    states[i] = claimed.Contains((job.Name, job.User)) ? DependencyState.Unfulfilled : DependencyState.Fulfilled;
                }
                else
                {
                    states[i] = Term(terms[i], i < job.Targets.Count ? job.Targets[i] : null, now, job.ArrayHolder);
                }
            }

            var state = Dependencies.Combine(states, job.Dependency.Any);
            if (singleton && state == DependencyState.Fulfilled)
            {
                claimed.Add((job.Name, job.User));
            }

            verdicts.Add(new DependencyVerdict(job.Id, state, states, state == DependencyState.Fulfilled && !singleton) { KillOnInvalid = job.KillOnInvalid });
        }

        return verdicts;
    }

    /// <summary>
    /// One term against its target; a target that no longer exists is met, as in Slurm. An <c>aftercorr</c> target (a
    /// task's pair, or the whole target for a task without one) is judged once it has ended. On an array's row that
    /// still holds unstarted tasks (<paramref name="arrayHolder"/>) a failed one only keeps it waiting: each task is
    /// judged against its own pair once split off, and the row is met only when the whole target completed.
    /// </summary>
    public static DependencyState Term(DependencyTerm term, TargetStatus? target, DateTimeOffset now, bool arrayHolder = false)
    {
        ArgumentNullException.ThrowIfNull(term);
        if (target is not { } t)
        {
            return DependencyState.Fulfilled;
        }

        return term.Kind switch
        {
            DependencyKind.After => t.Pending == 0 && (term.Minutes == 0 || t.LastStart is not { } start || start.AddMinutes(term.Minutes) <= now)
                ? DependencyState.Fulfilled
                : DependencyState.Unfulfilled,
            DependencyKind.AfterAny => t.Ended ? DependencyState.Fulfilled : DependencyState.Unfulfilled,
            DependencyKind.AfterCorr => !t.Ended ? DependencyState.Unfulfilled
                : t.Failed == 0 ? DependencyState.Fulfilled
                : arrayHolder ? DependencyState.Unfulfilled
                : DependencyState.Failed,
            DependencyKind.AfterOk => t.Failed > 0 ? DependencyState.Failed
                : t.Ended ? DependencyState.Fulfilled
                : DependencyState.Unfulfilled,
            DependencyKind.AfterNotOk => !t.Ended ? DependencyState.Unfulfilled
                : t.Failed > 0 ? DependencyState.Fulfilled
                : DependencyState.Failed,
            _ => DependencyState.Unfulfilled,
        };
    }

    /// <summary>The earliest time a waiting <c>after:ID+N</c> term falls due, so the scheduler can wake for it.</summary>
    public static DateTimeOffset? NextDue(IEnumerable<DependentJob> jobs, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        DateTimeOffset? next = null;
        foreach (var job in jobs)
        {
            for (var i = 0; i < job.Dependency.Terms.Count && i < job.Targets.Count; i++)
            {
                var term = job.Dependency.Terms[i];
                if (term.Kind == DependencyKind.After && term.Minutes > 0 && job.Targets[i] is { Pending: 0, LastStart: { } start })
                {
                    var due = start.AddMinutes(term.Minutes);
                    if (due > now && (next is null || due < next))
                    {
                        next = due;
                    }
                }
            }
        }

        return next;
    }
}
