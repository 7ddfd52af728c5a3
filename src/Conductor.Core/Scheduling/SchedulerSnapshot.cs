using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>A pending job as the policy sees it.</summary>
/// <param name="Priority">The administrative part of its priority: <c>-nice</c>.</param>
/// <param name="Gres">The generic resources the job asks for on its node, every task included.</param>
/// <param name="Ineligible">
/// When set, the job may not start yet for a reason outside the policy (a dependency, an array's concurrency limit):
/// the policy leaves it out of the pass, blocks nothing with it and gives it this reason.
/// </param>
/// <param name="Array">The array the job belongs to, when it does (see <see cref="JobArrayGate"/>).</param>
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
    string? Reason,
    string Account = "",
    GresList? Gres = null,
    string? Ineligible = null,
    ArrayMembership? Array = null)
{
    public int Nice => -Priority;

    public GresList GresRequest => Gres ?? GresList.None;
}

/// <summary>
/// An allocation that holds cores, memory and devices on a node until its expected end (its start plus its time
/// limit; null when it has none).
/// </summary>
public sealed record RunningAllocation(
    JobId JobId,
    IReadOnlyList<int> Cores,
    long MemoryMiB,
    bool Exclusive,
    DateTimeOffset? ExpectedEnd = null,
    IReadOnlyList<GresDevice>? Devices = null,
    string? Account = null,
    DateTimeOffset? Start = null)
{
    public IReadOnlyList<GresDevice> GresDevices => Devices ?? [];
}

/// <param name="Drained">An operator drained the node: it keeps what it runs and is given nothing new.</param>
public sealed record NodeSnapshot(
    NodeName Name,
    int Cpus,
    long MemoryMiB,
    IReadOnlyList<string> Partitions,
    NodeState State,
    IReadOnlyList<RunningAllocation> Allocations,
    GresList? Gres = null,
    bool Drained = false)
{
    public GresList GresTotal => Gres ?? GresList.None;
}

/// <summary>Everything one scheduling pass needs, read in one go from the store.</summary>
/// <param name="Usage">Each account's past usage in weighted CPU-seconds, decayed to the time of the pass (fair-share).</param>
/// <param name="ArrayRunning">How many tasks of each array hold an allocation (for the arrays that have a '%N' limit).</param>
public sealed record SchedulerSnapshot(
    IReadOnlyList<PendingJob> Pending,
    IReadOnlyList<NodeSnapshot> Nodes,
    IReadOnlyDictionary<string, double>? Usage = null,
    IReadOnlyDictionary<JobId, int>? ArrayRunning = null)
{
    public IReadOnlyDictionary<string, double> AccountUsage => Usage ?? EmptyUsage;

    /// <summary>The pending jobs that have a dependency, with their targets' states, as the store read them.</summary>
    public IReadOnlyList<DependentJob> Dependents { get; init; } = [];

    /// <summary>The (name, user) pairs that have a running job, for the dependents' <c>singleton</c> terms.</summary>
    public IReadOnlySet<(string Name, string User)> SingletonsRunning { get; init; } = new HashSet<(string, string)>();

    /// <summary>What <see cref="DependencyGate.Apply"/> decided for each dependent (their <see cref="PendingJob.Ineligible"/> is set from it).</summary>
    public IReadOnlyList<DependencyVerdict> DependencyVerdicts { get; init; } = [];

    private static readonly Dictionary<string, double> EmptyUsage = new(StringComparer.Ordinal);
}

/// <summary>A decision to start a job on a node, pinned to the given cores and devices.</summary>
public sealed record JobStart(JobId JobId, NodeName Node, IReadOnlyList<int> Cores, long MemoryMiB, IReadOnlyList<GresDevice>? Devices = null)
{
    public IReadOnlyList<GresDevice> GresDevices => Devices ?? [];
}

public sealed record ReasonChange(JobId JobId, string Reason);

/// <summary>When and where a blocked job is expected to start: its backfill reservation.</summary>
public sealed record ExpectedStart(JobId JobId, DateTimeOffset Time, NodeName Node);

public sealed record SchedulingPlan(
    IReadOnlyList<JobStart> Starts,
    IReadOnlyList<ReasonChange> ReasonChanges,
    IReadOnlyList<ExpectedStart>? Reservations = null)
{
    public static SchedulingPlan Empty { get; } = new([], []);

    /// <summary>
    /// Every pending job in the order the pass took them (priority order), when the policy says: handing the next
    /// pass its jobs in this order spares it most of its sort (see <see cref="PendingSet.Reorder"/>).
    /// </summary>
    public IReadOnlyList<JobId>? Order { get; init; }

    public IReadOnlyList<ExpectedStart> ExpectedStarts => Reservations ?? [];
}

/// <summary>A scheduling policy: a pure function from a snapshot and the time to decisions.</summary>
public interface ISchedulingPolicy
{
    SchedulingPlan Plan(SchedulerSnapshot snapshot, DateTimeOffset now);
}
