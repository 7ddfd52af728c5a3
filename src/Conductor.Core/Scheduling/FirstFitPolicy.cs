using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>
/// Priority order (priority, then submit time, then id) with first fit across nodes: each job, in order,
/// starts on the first node of its partition that has room for it now. A smaller job may pass a larger one
/// that does not fit yet.
/// </summary>
public sealed class FirstFitPolicy : ISchedulingPolicy
{
    public SchedulingPlan Plan(SchedulerSnapshot snapshot, DateTimeOffset now)
    {
        var nodes = snapshot.Nodes
            .OrderBy(n => n.Name.Value, StringComparer.Ordinal)
            .Select(n => new NodeCapacity(n))
            .ToArray();
        var pending = snapshot.Pending.ToArray();
        Array.Sort(pending, JobOrder.Instance);

        var starts = new List<JobStart>();
        var reasons = new List<ReasonChange>();
        var blockedPartitions = new HashSet<string>(StringComparer.Ordinal);
        var freeCores = nodes.Where(n => n.Node.State == NodeState.Up).Sum(n => n.FreeCores);

        foreach (var job in pending)
        {
            string reason;
            if (job.Held)
            {
                reason = PendingReasons.JobHeldUser;
            }
            else if (job.Begin is { } begin && begin > now)
            {
                reason = PendingReasons.BeginTime;
            }
            else if (freeCores >= job.Cpus && TryPlace(job, nodes, out var start))
            {
                starts.Add(start);
                freeCores -= job.Cpus;
                continue;
            }
            else
            {
                var anyUp = nodes.Any(n => n.InPartition(job.Partition) && n.Node.State == NodeState.Up);
                reason = !anyUp
                    ? PendingReasons.NodeDown
                    : blockedPartitions.Contains(job.Partition) ? PendingReasons.Priority : PendingReasons.Resources;
                blockedPartitions.Add(job.Partition);
            }

            if (job.Reason != reason)
            {
                reasons.Add(new ReasonChange(job.Id, reason));
            }
        }

        return new SchedulingPlan(starts, reasons);
    }

    private static bool TryPlace(PendingJob job, NodeCapacity[] nodes, out JobStart start)
    {
        foreach (var node in nodes)
        {
            if (node.InPartition(job.Partition) && node.CanRunNow(job))
            {
                start = new JobStart(job.Id, node.Node.Name, node.Allocate(job), job.MemoryMiB);
                return true;
            }
        }

        start = null!;
        return false;
    }

    private sealed class JobOrder : IComparer<PendingJob>
    {
        public static readonly JobOrder Instance = new();

        public int Compare(PendingJob? x, PendingJob? y)
        {
            var c = y!.Priority.CompareTo(x!.Priority);
            if (c != 0)
            {
                return c;
            }

            c = x.SubmitTime.CompareTo(y.SubmitTime);
            return c != 0 ? c : x.Id.CompareTo(y.Id);
        }
    }
}
