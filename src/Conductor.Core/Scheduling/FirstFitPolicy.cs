using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>
/// Priority order (priority, then submit time, then id) with first fit across nodes: each job, in order,
/// starts on the first node of its partition (nodes in natural name order: node2 before node10) that has room
/// for it now. A smaller job may pass a larger one that does not fit yet.
/// </summary>
/// <remarks>
/// A pass must stay cheap at 100,000 pending jobs: nodes are grouped by partition once, and each partition
/// keeps the most free cores and memory any of its up nodes has, so a job that cannot fit anywhere is settled
/// without looking at a single node.
/// </remarks>
public sealed class FirstFitPolicy : ISchedulingPolicy
{
    public SchedulingPlan Plan(SchedulerSnapshot snapshot, DateTimeOffset now)
    {
        var nodes = snapshot.Nodes
            .OrderBy(n => n.Name.Value, NaturalComparer.Instance)
            .Select(n => new NodeCapacity(n))
            .ToArray();
        var partitions = new Dictionary<string, Partition>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            foreach (var name in node.Node.Partitions)
            {
                if (!partitions.TryGetValue(name, out var partition))
                {
                    partitions[name] = partition = new Partition();
                }

                partition.Nodes.Add(node);
            }
        }

        foreach (var partition in partitions.Values)
        {
            partition.Refresh();
        }

        var pending = snapshot.Pending.ToArray();
        Array.Sort(pending, JobOrder.Instance);

        var starts = new List<JobStart>();
        var reasons = new List<ReasonChange>();
        foreach (var job in pending)
        {
            string reason;
            partitions.TryGetValue(job.Partition, out var partition);
            if (job.Held)
            {
                reason = PendingReasons.JobHeldUser;
            }
            else if (job.Begin is { } begin && begin > now)
            {
                reason = PendingReasons.BeginTime;
            }
            else if (partition is null || !partition.AnyUp)
            {
                reason = PendingReasons.NodeDown;
            }
            else if (partition.MightFit(job) && TryPlace(job, partition, out var start, out var placedOn))
            {
                starts.Add(start);
                foreach (var name in placedOn.Node.Partitions)
                {
                    partitions[name].Refresh();
                }

                continue;
            }
            else
            {
                reason = partition.Blocked ? PendingReasons.Priority : PendingReasons.Resources;
                partition.Blocked = true;
            }

            if (job.Reason != reason)
            {
                reasons.Add(new ReasonChange(job.Id, reason));
            }
        }

        return new SchedulingPlan(starts, reasons);
    }

    private static bool TryPlace(PendingJob job, Partition partition, out JobStart start, out NodeCapacity placedOn)
    {
        foreach (var node in partition.Nodes)
        {
            if (node.CanRunNow(job))
            {
                start = new JobStart(job.Id, node.Node.Name, node.Allocate(job), job.MemoryMiB);
                placedOn = node;
                return true;
            }
        }

        start = null!;
        placedOn = null!;
        return false;
    }

    /// <summary>A partition's nodes and the most any one of its up nodes has free, kept current through the pass.</summary>
    private sealed class Partition
    {
        public List<NodeCapacity> Nodes { get; } = [];
        public bool AnyUp { get; private set; }
        public int MaxFreeCores { get; private set; }
        public long MaxFreeMemoryMiB { get; private set; }

        /// <summary>A job of this partition already waits for resources; later ones wait for it (Slurm's "Priority").</summary>
        public bool Blocked { get; set; }

        /// <summary>False only when no node could hold the job now; true does not promise it fits.</summary>
        public bool MightFit(PendingJob job) => job.Cpus <= MaxFreeCores && job.MemoryMiB <= MaxFreeMemoryMiB;

        public void Refresh()
        {
            AnyUp = false;
            MaxFreeCores = 0;
            MaxFreeMemoryMiB = 0;
            foreach (var node in Nodes)
            {
                if (node.Node.State != NodeState.Up)
                {
                    continue;
                }

                AnyUp = true;
                if (!node.HeldExclusively)
                {
                    MaxFreeCores = Math.Max(MaxFreeCores, node.FreeCores);
                    MaxFreeMemoryMiB = Math.Max(MaxFreeMemoryMiB, node.FreeMemoryMiB);
                }
            }
        }
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

/// <summary>Orders names with their digit runs as numbers: node2 before node10.</summary>
public sealed class NaturalComparer : IComparer<string>
{
    public static readonly NaturalComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        int i = 0, j = 0;
        while (i < x.Length && j < y.Length)
        {
            if (char.IsAsciiDigit(x[i]) && char.IsAsciiDigit(y[j]))
            {
                var si = i;
                var sj = j;
                while (i < x.Length && char.IsAsciiDigit(x[i]))
                {
                    i++;
                }

                while (j < y.Length && char.IsAsciiDigit(y[j]))
                {
                    j++;
                }

                var a = x[si..i].TrimStart('0');
                var b = y[sj..j].TrimStart('0');
                var c = a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);
                if (c != 0)
                {
                    return c;
                }
            }
            else
            {
                var c = x[i].CompareTo(y[j]);
                if (c != 0)
                {
                    return c;
                }

                i++;
                j++;
            }
        }

        var rest = (x.Length - i).CompareTo(y.Length - j);
        return rest != 0 ? rest : string.CompareOrdinal(x, y);
    }
}
