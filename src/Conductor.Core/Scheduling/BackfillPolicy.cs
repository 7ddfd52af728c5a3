using System.Buffers;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>
/// Multifactor priority with backfill, as Slurm's priority/multifactor and sched/backfill. Jobs are taken in
/// priority order; each starts on the first node of its partition (natural name order) where it fits now without
/// taking what a reservation needs. The first <see cref="PolicyOptions.BackfillDepth"/> jobs of each partition that
/// cannot start get a reservation at their earliest start (from the running jobs' time limits and the reservations
/// already made), so a later, lower-priority job starts now only if it ends before every reservation it would
/// overlap or uses resources no reservation needs.
/// </summary>
/// <remarks>
/// Fair-share changes as the pass starts jobs (each start charges its account), so accounts are merged, one
/// queue per account: each account's jobs are sorted once by the rest of their priority, and the account whose next
/// job has the highest whole priority goes next. A pass stays cheap at 100,000 pending jobs: each partition keeps the most free
/// CPUs and memory any of its up nodes has now, so a job that cannot fit anywhere now is settled without a node scan
/// once the partition's reservations are made.
/// </remarks>
public sealed class BackfillPolicy(PolicyOptions options) : ISchedulingPolicy
{
    public BackfillPolicy()
        : this(PolicyOptions.Default)
    {
    }

    public PolicyOptions Options { get; } = options;

    public SchedulingPlan Plan(SchedulerSnapshot snapshot, DateTimeOffset now)
    {
        var slots = new GresSlots();
        foreach (var node in snapshot.Nodes)
        {
            slots.Declare(node.GresTotal);
        }

        var nodes = snapshot.Nodes
            .OrderBy(n => n.Name.Value, NaturalComparer.Instance)
            .Select(n => new NodeTimeline(n, slots, now))
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

        var priorities = new PriorityModel(snapshot, now, Options);
        var depth = Math.Max(1, Options.BackfillDepth);
        var starts = new List<JobStart>();
        var reasons = new List<ReasonChange>();
        var reservations = new List<ExpectedStart>();
        var order = new List<JobId>(snapshot.Pending.Count);
        foreach (var job in new PriorityOrder(snapshot.Pending, priorities))
        {
            order.Add(job.Id);
            string reason;
            partitions.TryGetValue(job.Partition, out var partition);
            if (job.Held)
            {
                // An admin's hold and a requeue's hold are written with their reasons; the pass keeps them.
                reason = job.Reason is PendingReasons.JobHeldAdmin or PendingReasons.RequeuedHeld ? job.Reason : PendingReasons.JobHeldUser;
            }
            else if (job.Ineligible is { } gate)
            {
                reason = gate;
            }
            else if (job.Begin is { } begin && begin > now)
            {
                reason = PendingReasons.BeginTime;
            }
            else if (partition is null || !partition.AnyUp)
            {
                reason = partition?.Nodes.Where(n => n.Node.Drained).Select(n => n.Node.Name.Value).ToList() is { Count: > 0 } drained
                    ? PendingReasons.NodesNotAvailable(drained)
                    : PendingReasons.NodeDown;
            }
            else if (!slots.TryVector(job.GresRequest, out var gres))
            {
                // No node declares what the job asks for (submit refuses this; a node may have gone since).
                reason = partition.Blocked ? PendingReasons.Priority : PendingReasons.Resources;
            }
            else
            {
                var end = NodeTimeline.EndOf(now, job.TimeLimit);
                var started = false;
                if (partition.MightFitNow(job))
                {
                    foreach (var node in partition.Nodes)
                    {
                        var demand = node.Demand(job, gres);
                        if (node.CanStartNow(demand, now, end))
                        {
                            starts.Add(node.Start(job, demand, end));
                            foreach (var name in node.Node.Partitions)
                            {
                                partitions[name].Refresh();
                            }

                            priorities.FairShare.Charge(job);
                            started = true;
                            break;
                        }
                    }
                }

                if (started)
                {
                    continue;
                }

                if (partition.Reservations < depth)
                {
                    partition.Reservations++;
                    if (Reserve(job, gres, partition, now) is { } reservation)
                    {
                        reservations.Add(reservation);
                    }
                }

                reason = partition.Blocked ? PendingReasons.Priority : PendingReasons.Resources;
                partition.Blocked = true;
            }

            if (job.Reason != reason)
            {
                reasons.Add(new ReasonChange(job.Id, reason));
            }
        }

        return new SchedulingPlan(starts, reasons, reservations) { Order = order };
    }

    /// <summary>Reserves the earliest start any node of the partition offers the job; null when none is known.</summary>
    private static ExpectedStart? Reserve(PendingJob job, int[]? gres, Partition partition, DateTimeOffset now)
    {
        NodeTimeline? best = null;
        var bestTime = DateTimeOffset.MaxValue;
        foreach (var node in partition.Nodes)
        {
            if (node.EarliestStart(node.Demand(job, gres), now, job.TimeLimit, bestTime) is { } t && (best is null || t < bestTime))
            {
                best = node;
                bestTime = t;
            }
        }

        if (best is null)
        {
            return null;
        }

        best.Reserve(best.Demand(job, gres), bestTime, NodeTimeline.EndOf(bestTime, job.TimeLimit));
        partition.Refresh();
        return new ExpectedStart(job.Id, bestTime, best.Node.Name);
    }

    /// <summary>A partition's nodes and the most any one of its up nodes has free now, kept current through the pass.</summary>
    private sealed class Partition
    {
        public List<NodeTimeline> Nodes { get; } = [];
        public bool AnyUp { get; private set; }
        public int MaxFreeCpus { get; private set; }
        public long MaxFreeMemoryMiB { get; private set; }

        /// <summary>A job of this partition already waits for resources; later ones wait behind it (Slurm's "Priority").</summary>
        public bool Blocked { get; set; }

        /// <summary>How many of its blocked jobs have been given a reservation in this pass.</summary>
        public int Reservations { get; set; }

        /// <summary>False only when no node could hold the job now; true does not promise it fits.</summary>
        public bool MightFitNow(PendingJob job) =>
            job.Exclusive ? MaxFreeCpus > 0 : job.Cpus <= MaxFreeCpus && job.MemoryMiB <= MaxFreeMemoryMiB;

        public void Refresh()
        {
            AnyUp = false;
            MaxFreeCpus = 0;
            MaxFreeMemoryMiB = 0;
            foreach (var node in Nodes)
            {
                if (!node.IsUp)
                {
                    continue;
                }

                AnyUp = true;
                MaxFreeCpus = Math.Max(MaxFreeCpus, node.FreeCpusNow);
                MaxFreeMemoryMiB = Math.Max(MaxFreeMemoryMiB, node.FreeMemoryMiBNow);
            }
        }
    }

    /// <summary>
    /// The pending jobs in priority order: within an account by everything but fair-share (then submit time, then id);
    /// across accounts by whole priority, fair-share read afresh as the pass charges the accounts.
    /// </summary>
    private sealed class PriorityOrder(IReadOnlyList<PendingJob> pending, PriorityModel priorities) : IEnumerable<PendingJob>
    {
        public IEnumerator<PendingJob> GetEnumerator()
        {
            // Each account's jobs and keys go into arrays rented for the pass and given back at its end: at 100,000
            // jobs a new array each pass would land on the large object heap and bring a full collection every few passes.
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            var lastAccount = (string?)null;
            var lastCount = 0;
            foreach (var job in pending)
            {
                if (!ReferenceEquals(job.Account, lastAccount))
                {
                    if (lastAccount is not null)
                    {
                        counts[lastAccount] = lastCount;
                    }

                    lastAccount = job.Account;
                    lastCount = counts.GetValueOrDefault(lastAccount);
                }

                lastCount++;
            }

            if (lastAccount is not null)
            {
                counts[lastAccount] = lastCount;
            }

            var byAccount = new Dictionary<string, Queue>(counts.Count, StringComparer.Ordinal);
            foreach (var (account, count) in counts)
            {
                byAccount[account] = new Queue(account, Rent<SortKey>(count), Rent<PendingJob>(count));
            }

            try
            {
                Queue? last = null;
                foreach (var job in pending)
                {
                    if (last is null || !ReferenceEquals(job.Account, last.Account))
                    {
                        last = byAccount[job.Account];
                    }

                    last.Keys[last.Count] = new SortKey(priorities.WithoutFairShare(job), job.SubmitTime.UtcTicks, job.Id.Value);
                    last.Jobs[last.Count++] = job;
                }

                var queues = new List<Queue>(byAccount.Values);
                foreach (var queue in queues)
                {
                    Sort(queue);
                }

                if (queues.Count == 1)
                {
                    var only = queues[0];
                    for (var i = 0; i < only.Count; i++)
                    {
                        yield return only.Jobs[i];
                    }

                    yield break;
                }

                // A charge changes every account's factor (they are shares of the total), so the terms are read afresh after
                // each one; there are few accounts and few starts per pass.
                var version = -1;
                while (true)
                {
                    if (priorities.FairShare.Version != version)
                    {
                        version = priorities.FairShare.Version;
                        foreach (var queue in queues)
                        {
                            queue.FairShareTerm = priorities.FairShareTerm(queue.Account);
                        }
                    }

                    Queue? best = null;
                    foreach (var queue in queues)
                    {
                        if (queue.Next < queue.Count && (best is null || Before(queue, best)))
                        {
                            best = queue;
                        }
                    }

                    if (best is null)
                    {
                        yield break;
                    }

                    yield return best.Jobs[best.Next++];
                }
            }
            finally
            {
                foreach (var queue in byAccount.Values)
                {
                    queue.Return();
                }
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private static T[] Rent<T>(int count) => ArrayPool<T>.Shared.Rent(Math.Max(1, count));

        /// <summary>
        /// Sorts one account's jobs by their keys. Jobs handed in the last pass's order are mostly sorted already (ages
        /// grow alike): a sorted run followed by the few jobs that arrived or changed since is sorted by sorting the
        /// few and merging; anything else by a whole sort.
        /// </summary>
        private static void Sort(Queue queue)
        {
            var comparer = default(SortKeyComparer);
            var keys = queue.Keys;
            var jobs = queue.Jobs;
            var length = queue.Count;
            var sorted = 1;
            while (sorted < length && comparer.Compare(keys[sorted - 1], keys[sorted]) <= 0)
            {
                sorted++;
            }

            if (sorted >= length)
            {
                return;
            }

            if (length - sorted > length / 4)
            {
                Array.Sort(keys, jobs, 0, length, comparer);
                return;
            }

            Array.Sort(keys, jobs, sorted, length - sorted, comparer);
            var mergedKeys = Rent<SortKey>(length);
            var mergedJobs = Rent<PendingJob>(length);
            int a = 0, b = sorted, k = 0;
            while (a < sorted && b < length)
            {
                var fromA = comparer.Compare(keys[a], keys[b]) <= 0;
                var i = fromA ? a++ : b++;
                mergedKeys[k] = keys[i];
                mergedJobs[k++] = jobs[i];
            }

            for (; a < sorted; a++, k++)
            {
                mergedKeys[k] = keys[a];
                mergedJobs[k] = jobs[a];
            }

            for (; b < length; b++, k++)
            {
                mergedKeys[k] = keys[b];
                mergedJobs[k] = jobs[b];
            }

            queue.Return();
            queue.Keys = mergedKeys;
            queue.Jobs = mergedJobs;
        }

        private static bool Before(Queue x, Queue y)
        {
            var a = x.Keys[x.Next];
            var b = y.Keys[y.Next];
            var c = (b.Base + y.FairShareTerm).CompareTo(a.Base + x.FairShareTerm);
            if (c == 0)
            {
                c = a.SubmitTicks.CompareTo(b.SubmitTicks);
            }

            return (c == 0 ? a.Id.CompareTo(b.Id) : c) < 0;
        }

        /// <summary>One account's jobs in arrays rented for the pass: the first <see cref="Count"/> of them are its jobs.</summary>
        private sealed class Queue(string account, SortKey[] keys, PendingJob[] jobs)
        {
            public string Account { get; } = account;
            public SortKey[] Keys { get; set; } = keys;
            public PendingJob[] Jobs { get; set; } = jobs;
            public int Count { get; set; }
            public int Next { get; set; }
            public double FairShareTerm { get; set; }

            /// <summary>Gives the arrays back, clearing the jobs so that the pool holds none of them.</summary>
            public void Return()
            {
                if (Jobs.Length == 0)
                {
                    return;
                }

                ArrayPool<SortKey>.Shared.Return(Keys);
                ArrayPool<PendingJob>.Shared.Return(Jobs, clearArray: true);
                Keys = [];
                Jobs = [];
            }
        }
    }

    /// <summary>Priority without fair-share (higher first), then submit time, then id.</summary>
    private readonly record struct SortKey(double Base, long SubmitTicks, long Id);

    private readonly struct SortKeyComparer : IComparer<SortKey>
    {
        public int Compare(SortKey x, SortKey y)
        {
            var c = y.Base.CompareTo(x.Base);
            if (c != 0)
            {
                return c;
            }

            c = x.SubmitTicks.CompareTo(y.SubmitTicks);
            return c != 0 ? c : x.Id.CompareTo(y.Id);
        }
    }
}
