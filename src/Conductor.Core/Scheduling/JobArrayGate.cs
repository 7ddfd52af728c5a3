using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>A pending row's place in an array: a task of it, or the array's row that still holds unstarted tasks.</summary>
/// <param name="HoldsUnstarted">True on the array's row while it holds tasks not yet split off; it never starts as such.</param>
/// <param name="MaxRunning">The array's '%N' limit on tasks running at once.</param>
public sealed record ArrayMembership(JobId ArrayJobId, bool HoldsUnstarted, int? MaxRunning);

/// <summary>
/// The array gate, applied to a snapshot before the policy sees it: an array's row that holds unstarted tasks never
/// starts as such (its tasks are split off first), and a task whose array already runs as many tasks as its '%N'
/// allows waits with reason <c>JobArrayTaskLimit</c>. Decided from the counts of running tasks, never from the
/// unstarted tasks themselves.
/// </summary>
public static class JobArrayGate
{
    public const string TaskLimit = "JobArrayTaskLimit";

    /// <summary>At most this many tasks of one array are split off in one pass.</summary>
    public const int MaxSplitPerPass = 1000;

    /// <summary>
    /// How many tasks of an array that waits with <c>aftercorr</c> are split off to wait, each for its own pair (Slurm's
    /// <c>correspond_after_task_cnt</c>): the first tasks, whatever room the nodes have, as the pairs end in any order.
    /// </summary>
    public const int CorrespondingTasksWaiting = 10;

    public static SchedulerSnapshot Apply(SchedulerSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (!snapshot.Pending.Any(p => p.Array is not null))
        {
            return snapshot;
        }

        var running = snapshot.ArrayRunning ?? new Dictionary<JobId, int>();
        var splitPending = snapshot.Pending
            .Where(p => p.Array is { HoldsUnstarted: false } && !p.Held)
            .GroupBy(p => p.Array!.ArrayJobId)
            .ToDictionary(g => g.Key, g => g.Count());
        var room = new Dictionary<JobId, int>();
        var gated = new List<PendingJob>(snapshot.Pending.Count);
        foreach (var job in snapshot.Pending)
        {
            if (job.Array is not { } array || job.Ineligible is not null)
            {
                gated.Add(job);
                continue;
            }

            var active = running.GetValueOrDefault(array.ArrayJobId) + splitPending.GetValueOrDefault(array.ArrayJobId);
            if (array.HoldsUnstarted)
            {
                gated.Add(job with { Ineligible = UnstartedReason(job, array, active, now) });
                continue;
            }

            if (array.MaxRunning is not { } max || job.Held)
            {
                gated.Add(job);
                continue;
            }

            if (!room.TryGetValue(array.ArrayJobId, out var left))
            {
                left = max - running.GetValueOrDefault(array.ArrayJobId);
            }

            room[array.ArrayJobId] = left - 1;
            gated.Add(left > 0 ? job : job with { Ineligible = TaskLimit });
        }

        return snapshot with { Pending = gated };
    }

    /// <summary>
    /// How many unstarted tasks of an array to split off now: no more than could start (the free room of the nodes,
    /// less the tasks already split off and waiting), nor than the '%N' limit leaves; but one task always waits in the
    /// pass while the nodes are full, so that the array's next task gets a backfill reservation as Slurm gives it.
    /// </summary>
    /// <param name="active">The array's tasks running or split off and pending.</param>
    /// <param name="splitPending">The array's tasks split off and still pending.</param>
    public static int TasksToSplit(long unstarted, int? maxRunning, int active, int splitPending, long freeSlots)
    {
        var n = Math.Min(unstarted, Math.Min(Math.Max(freeSlots, 1) - splitPending, MaxSplitPerPass));
        if (maxRunning is { } max)
        {
            n = Math.Min(n, max - active);
        }

        return (int)Math.Max(0, n);
    }

    /// <summary>How many jobs of the given size the Up nodes of a partition could start now, by CPUs alone.</summary>
    public static long FreeSlots(IEnumerable<(int Cpus, int AllocatedCpus, int Allocations, IReadOnlyList<string> Partitions, NodeState State)> nodes,
        string partition, int cpusPerJob, bool exclusive)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        long slots = 0;
        foreach (var node in nodes)
        {
            if (node.State != NodeState.Up || !node.Partitions.Contains(partition))
            {
                continue;
            }

            slots += exclusive
                ? (node.Allocations == 0 && node.Cpus >= cpusPerJob ? 1 : 0)
                : Math.Max(0, node.Cpus - node.AllocatedCpus) / Math.Max(1, cpusPerJob);
        }

        return slots;
    }

    private static string UnstartedReason(PendingJob job, ArrayMembership array, int active, DateTimeOffset now)
    {
        if (job.Held)
        {
            return job.Reason ?? PendingReasons.JobHeldUser;
        }

        if (job.Begin > now)
        {
            return PendingReasons.BeginTime;
        }

        if (array.MaxRunning is { } max && active >= max)
        {
            return TaskLimit;
        }

        return job.Reason is PendingReasons.Priority or PendingReasons.Resources ? job.Reason : PendingReasons.Resources;
    }
}
