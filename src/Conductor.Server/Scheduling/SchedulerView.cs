using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;

namespace Conductor.Server.Scheduling;

/// <summary>
/// What the last scheduling pass of this server knew, for the API: the priority model (factors of a pending job as
/// the pass saw them). A standby server (one that does not hold the scheduler role) refreshes it every few seconds
/// from the store, read only.
/// </summary>
public sealed class SchedulerView
{
    private volatile PriorityModel? _priorities;

    public void Update(PriorityModel priorities) => _priorities = priorities;

    /// <summary>The factors of a pending job's priority, or null when no pass has run here.</summary>
    public PriorityFactors? FactorsOf(JobRecord job) =>
        job.State == JobState.Pending && _priorities is { } model ? model.Factors(ToPending(job)) : null;

    public static PendingJob ToPending(JobRecord job) => new(
        job.Id,
        job.Spec.Priority,
        job.SubmitTime,
        job.Spec.Partition,
        job.Spec.TotalCpus,
        job.Spec.MemoryMiB ?? 0,
        job.Spec.Exclusive,
        job.Spec.Hold,
        job.Spec.Begin,
        job.Spec.TimeLimit,
        job.Reason,
        job.Spec.Account,
        job.Spec.Gres);
}
