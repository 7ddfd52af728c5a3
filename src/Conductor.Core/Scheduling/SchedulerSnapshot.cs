using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>A pending job as the policy sees it.</summary>
public sealed record PendingJob(
    JobId Id,
    int Priority,
    DateTimeOffset SubmitTime,
    string Partition,
    int Cpus,
    long MemoryMiB,
    bool Exclusive,
    bool Held,
    DateTimeOffset? Begin,
    TimeSpan? TimeLimit,
    string? Reason);

/// <summary>An allocation that holds cores and memory on a node.</summary>
public sealed record RunningAllocation(JobId JobId, IReadOnlyList<int> Cores, long MemoryMiB, bool Exclusive, DateTimeOffset? ExpectedEnd = null);

public sealed record NodeSnapshot(
    NodeName Name,
    int Cpus,
    long MemoryMiB,
    IReadOnlyList<string> Partitions,
    NodeState State,
    IReadOnlyList<RunningAllocation> Allocations);

/// <summary>Everything one scheduling pass needs, read in one go from the store.</summary>
public sealed record SchedulerSnapshot(IReadOnlyList<PendingJob> Pending, IReadOnlyList<NodeSnapshot> Nodes);

/// <summary>A decision to start a job on a node, pinned to the given cores.</summary>
public sealed record JobStart(JobId JobId, NodeName Node, IReadOnlyList<int> Cores, long MemoryMiB);

public sealed record ReasonChange(JobId JobId, string Reason);

public sealed record SchedulingPlan(IReadOnlyList<JobStart> Starts, IReadOnlyList<ReasonChange> ReasonChanges)
{
    public static SchedulingPlan Empty { get; } = new([], []);
}

/// <summary>A scheduling policy: a pure function from a snapshot and the time to decisions.</summary>
public interface ISchedulingPolicy
{
    SchedulingPlan Plan(SchedulerSnapshot snapshot, DateTimeOffset now);
}
