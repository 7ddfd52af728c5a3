using Conductor.Core.Scheduling;

namespace Conductor.Server.Scheduling;

/// <summary>
/// One finished scheduling pass: the snapshot it planned from, the starts that were committed (at
/// <see cref="CommitTime"/>, which is each started job's start time) and how long the pass took.
/// </summary>
public sealed record SchedulerPass(SchedulerSnapshot Snapshot, IReadOnlyList<JobStart> Started, DateTimeOffset CommitTime, TimeSpan Duration);

/// <summary>Told about every pass, on the scheduler's loop: must be quick and must not throw.</summary>
public interface ISchedulerPassObserver
{
    void OnPass(SchedulerPass pass);
}
