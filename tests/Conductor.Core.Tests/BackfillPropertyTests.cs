using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

/// <summary>
/// Random clusters planned by <see cref="BackfillPolicy"/>, checked against a brute-force timeline in whole minutes
/// that knows nothing of the policy's shortcuts: nothing is ever over-allocated, now or later, and every reservation
/// is at the earliest minute the job could start given only what higher-priority jobs were given — so no
/// lower-priority start delays it.
/// </summary>
public sealed class BackfillPropertyTests
{
    /// <summary>Priority is <c>-nice</c> alone, so the test knows the order without the policy's help.</summary>
    private static readonly PolicyOptions NiceOnly = PolicyOptions.Default with
    {
        AgeWeight = 0,
        FairShareWeight = 0,
        JobSizeWeight = 0,
        PartitionWeight = 0,
    };

    /// <summary>Every finite end in a scenario falls before this minute.</summary>
    private const int Horizon = 160;

    private static readonly string[] NodeGres = ["", "", "gpu:1", "gpu:2", "gpu:3", "gpu:a:1,gpu:b:2"];
    private static readonly string[] JobGres = ["", "", "", "gpu:1", "gpu:2", "gpu:a:1", "gpu:b:1"];

    [Fact]
    public void Plan_NeverDelaysAReservedStart_NorOverAllocates_WhenCheckedAgainstABruteForceTimeline()
    {
        var random = new Random(20261129);
        int started = 0, reserved = 0, backfilled = 0;
        for (var iteration = 0; iteration < 400; iteration++)
        {
            var depth = random.Next(1, 4);
            var snapshot = RandomSnapshot(random);
            var plan = new BackfillPolicy(NiceOnly with { BackfillDepth = depth }).Plan(snapshot, Cluster.Now);
            var (b, r) = Check(snapshot, plan, depth, $"iteration {iteration}");
            started += plan.Starts.Count;
            reserved += r;
            backfilled += b;
        }

        // The generator must produce every outcome, or the checks prove little.
        Assert.True(started > 150, $"only {started} jobs started");
        Assert.True(reserved > 100, $"only {reserved} reservations");
        Assert.True(backfilled > 30, $"only {backfilled} jobs started behind a reservation");
    }

    private static SchedulerSnapshot RandomSnapshot(Random random)
    {
        var nodes = new List<NodeSnapshot>();
        var runningId = 10_000L;
        var nodeCount = random.Next(1, 4);
        for (var i = 0; i < nodeCount; i++)
        {
            var cpus = random.Next(1, 9);
            var memory = random.Next(2, 9) * 1024L;
            var gres = GresList.Parse(NodeGres[random.Next(NodeGres.Length)]);
            var partitions = new[] { "p", "q" }.Where(_ => random.Next(2) == 0).ToList();
            if (partitions.Count == 0)
            {
                partitions.Add(random.Next(2) == 0 ? "p" : "q");
            }

            var freeCores = Enumerable.Range(0, cpus).OrderBy(_ => random.Next()).ToList();
            var freeDevices = gres.Devices().Select(d => d.Device).OrderBy(_ => random.Next()).ToList();
            var allocations = new List<RunningAllocation>();
            var usedMemory = 0L;
            var count = random.Next(0, 4);
            for (var j = 0; j < count && freeCores.Count > 0; j++)
            {
                var take = random.Next(1, Math.Min(freeCores.Count, 4) + 1);
                var cores = freeCores.Take(take).Order().ToArray();
                freeCores.RemoveRange(0, take);
                var gpus = random.Next(0, freeDevices.Count + 1);
                var devices = freeDevices.Take(gpus).ToArray();
                freeDevices.RemoveRange(0, gpus);
                var mem = Math.Min(memory - usedMemory, random.Next(0, 3) * 1024L);
                usedMemory += mem;
                DateTimeOffset? end = random.Next(10) == 0 ? null : Cluster.Now.AddMinutes(random.Next(1, 21));
                var exclusive = count == 1 && random.Next(6) == 0;
                allocations.Add(new RunningAllocation(new JobId(runningId++), cores, mem, exclusive, end, devices, "acct", Cluster.Now.AddMinutes(-5)));
            }

            var drained = random.Next(10) == 0;
            nodes.Add(new NodeSnapshot(new NodeName($"n{i:00}"), cpus, memory, partitions, NodeState.Up, allocations, gres, drained));
        }

        var pending = new List<PendingJob>();
        var jobCount = random.Next(0, 11);
        for (var j = 0; j < jobCount; j++)
        {
            pending.Add(new PendingJob(
                new JobId(j + 1),
                Priority: random.Next(-3, 4),
                SubmitTime: Cluster.Epoch.AddSeconds(j),
                Partition: random.Next(2) == 0 ? "p" : "q",
                Cpus: random.Next(1, 7),
                MemoryMiB: random.Next(0, 4) * 1024L,
                Exclusive: random.Next(10) == 0,
                Held: random.Next(12) == 0,
                Begin: null,
                TimeLimit: random.Next(10) == 0 ? null : TimeSpan.FromMinutes(random.Next(1, 21)),
                Reason: null,
                Account: "acct",
                Gres: GresList.Parse(JobGres[random.Next(JobGres.Length)])));
        }

        return new SchedulerSnapshot(pending.OrderBy(_ => random.Next()).ToList(), nodes.OrderBy(_ => random.Next()).ToList());
    }

    /// <summary>Checks a plan; returns how many jobs started behind a reservation and how many reservations were made.</summary>
    private static (int Backfilled, int Reserved) Check(SchedulerSnapshot snapshot, SchedulingPlan plan, int depth, string context)
    {
        var nodes = snapshot.Nodes.ToDictionary(n => n.Name);
        var starts = plan.Starts.ToDictionary(s => s.JobId);
        var reservations = plan.ExpectedStarts.ToDictionary(r => r.JobId);
        Assert.True(starts.Count == plan.Starts.Count, $"{context}: a job started twice");
        Assert.True(reservations.Count == plan.ExpectedStarts.Count, $"{context}: a job reserved twice");

        // What each node holds over time: running jobs first.
        var holdings = snapshot.Nodes.ToDictionary(n => n.Name, n => n.Allocations.Select(a => Holding.Of(n, a)).ToList());
        var known = snapshot.Nodes.SelectMany(n => n.GresTotal.Items).Select(i => (i.Name, i.Type)).ToHashSet();

        foreach (var start in plan.Starts)
        {
            var node = nodes[start.Node];
            var job = snapshot.Pending.Single(j => j.Id == start.JobId);
            Assert.True(node.State == NodeState.Up && !node.Drained && node.Partitions.Contains(job.Partition), $"{context}: job {job.Id} on a wrong node");
            Assert.True(start.Cores.Count == job.Cpus, $"{context}: job {job.Id} got {start.Cores.Count} cores");
            var devices = node.GresTotal.Devices().ToDictionary(d => d.Device, d => d.Type);
            Assert.True(start.GresDevices.All(devices.ContainsKey), $"{context}: job {job.Id} got a device the node lacks");
            foreach (var ask in job.GresRequest.Items.Where(i => i.Type is not null))
            {
                Assert.True(start.GresDevices.Count(d => d.Name == ask.Name && devices[d] == ask.Type) >= ask.Count, $"{context}: job {job.Id} lacks {ask}");
            }

            Assert.True(start.GresDevices.Count == job.GresRequest.Items.Sum(i => i.Count), $"{context}: job {job.Id} got {start.GresDevices.Count} devices");
        }

        foreach (var node in snapshot.Nodes)
        {
            var cores = node.Allocations.SelectMany(a => a.Cores).Concat(plan.Starts.Where(s => s.Node == node.Name).SelectMany(s => s.Cores)).ToList();
            var devices = node.Allocations.SelectMany(a => a.GresDevices).Concat(plan.Starts.Where(s => s.Node == node.Name).SelectMany(s => s.GresDevices)).ToList();
            Assert.True(cores.Distinct().Count() == cores.Count && cores.All(c => c >= 0 && c < node.Cpus), $"{context}: cores shared or out of range on {node.Name}");
            Assert.True(devices.Distinct().Count() == devices.Count, $"{context}: a device given twice on {node.Name}");
        }

        // Walk the jobs in priority order, as the policy must, deciding nothing ourselves: each start and reservation
        // is checked against what higher-priority jobs were given, then added to the timeline.
        var order = snapshot.Pending.OrderByDescending(j => j.Priority).ThenBy(j => j.SubmitTime).ThenBy(j => j.Id.Value).ToList();
        var blocked = new Dictionary<string, int>(StringComparer.Ordinal);
        var backfilled = 0;
        foreach (var job in order)
        {
            var partitionNodes = snapshot.Nodes.Where(n => n.State == NodeState.Up && !n.Drained && n.Partitions.Contains(job.Partition))
                .OrderBy(n => n.Name.Value, NaturalComparer.Instance).ToList();
            if (starts.TryGetValue(job.Id, out var start))
            {
                var node = nodes[start.Node];
                var holding = Holding.Of(node, job, 0, job.TimeLimit, start.GresDevices);
                Assert.True(Fits(node, holdings[node.Name], holding), $"{context}: job {job.Id} started on {node.Name} where it does not fit beside higher-priority jobs");
                holdings[node.Name].Add(holding);
                backfilled += blocked.GetValueOrDefault(job.Partition) > 0 ? 1 : 0;
                continue;
            }

            var unknown = job.GresRequest.Items.Any(i => !known.Contains((i.Name, i.Type)) && !(i.Type is null && known.Any(k => k.Name == i.Name)));
            if (job.Held || partitionNodes.Count == 0 || unknown)
            {
                Assert.False(reservations.ContainsKey(job.Id), $"{context}: job {job.Id} reserved although it cannot be considered");
                continue;
            }

            // Nothing may fit now for a job left waiting.
            foreach (var node in partitionNodes)
            {
                Assert.False(Fits(node, holdings[node.Name], Holding.Of(node, job, 0, job.TimeLimit, null)), $"{context}: job {job.Id} waits although it fits on {node.Name}");
            }

            var rank = blocked[job.Partition] = blocked.GetValueOrDefault(job.Partition) + 1;
            var earliest = partitionNodes
                .Select(n => (Node: n, Minute: Enumerable.Range(0, Horizon).Cast<int?>()
                    .FirstOrDefault(m => Fits(n, holdings[n.Name], Holding.Of(n, job, m!.Value, job.TimeLimit, null)))))
                .Where(x => x.Minute is not null)
                .OrderBy(x => x.Minute)
                .FirstOrDefault();
            if (rank > depth || earliest.Node is null)
            {
                Assert.False(reservations.ContainsKey(job.Id), $"{context}: job {job.Id} reserved (rank {rank}, depth {depth})");
                continue;
            }

            Assert.True(reservations.TryGetValue(job.Id, out var reservation), $"{context}: job {job.Id} has no reservation; it could start at +{earliest.Minute} min");
            Assert.True(reservation.Time == Cluster.Now.AddMinutes(earliest.Minute!.Value),
                $"{context}: job {job.Id} reserved at {reservation.Time - Cluster.Now}, but it could start at +{earliest.Minute} min");
            var reservedNode = nodes[reservation.Node];
            var reserved = Holding.Of(reservedNode, job, earliest.Minute.Value, job.TimeLimit, null);
            Assert.True(Fits(reservedNode, holdings[reservedNode.Name], reserved), $"{context}: job {job.Id} reserved on {reservedNode.Name} where it does not fit");
            holdings[reservedNode.Name].Add(reserved);
        }

        return (backfilled, reservations.Count);
    }

    /// <summary>Whether <paramref name="extra"/> fits beside <paramref name="held"/> at every minute of its span.</summary>
    private static bool Fits(NodeSnapshot node, List<Holding> held, Holding extra)
    {
        var last = Math.Min(extra.To, Horizon + 1);
        var at = new List<Holding>(held.Count + 1);
        for (var m = extra.From; m < last; m++)
        {
            at.Clear();
            at.Add(extra);
            foreach (var h in held)
            {
                if (h.From <= m && m < h.To)
                {
                    at.Add(h);
                }
            }

            if (at.Count > 1 && at.Exists(h => h.Exclusive))
            {
                return false;
            }

            if (at.Sum(h => h.Cpus) > node.Cpus || at.Sum(h => h.MemoryMiB) > node.MemoryMiB)
            {
                return false;
            }

            if (!at.Exists(h => h.Gres.Count > 0))
            {
                continue;
            }

            var gres = at.SelectMany(h => h.Gres).ToList();
            foreach (var name in gres.Select(g => g.Name).Distinct())
            {
                if (gres.Where(g => g.Name == name).Sum(g => g.Count) > node.GresTotal.Count(name))
                {
                    return false;
                }

                foreach (var group in gres.Where(g => g.Name == name && g.Type is not null).GroupBy(g => g.Type))
                {
                    var have = node.GresTotal.Items.Where(i => i.Name == name && i.Type == group.Key).Sum(i => i.Count);
                    if (group.Sum(g => g.Count) > have)
                    {
                        return false;
                    }
                }
            }
        }

        return true;
    }

    /// <summary>Resources held on a node from minute <see cref="From"/> to minute <see cref="To"/> (exclusive; int.MaxValue: no end).</summary>
    private sealed record Holding(int From, int To, int Cpus, long MemoryMiB, bool Exclusive, IReadOnlyList<GresItem> Gres)
    {
        public static Holding Of(NodeSnapshot node, RunningAllocation a) =>
            new(0, a.ExpectedEnd is { } end ? (int)(end - Cluster.Now).TotalMinutes : int.MaxValue, a.Cores.Count, a.MemoryMiB, a.Exclusive, Typed(node, a.GresDevices));

        public static Holding Of(NodeSnapshot node, PendingJob job, int from, TimeSpan? limit, IReadOnlyList<GresDevice>? devices) =>
            new(from, limit is { } l ? from + (int)l.TotalMinutes : int.MaxValue, job.Cpus, job.MemoryMiB, job.Exclusive,
                devices is null ? job.GresRequest.Items : Typed(node, devices));

        /// <summary>Devices as typed counts (their node's type, if it declares one).</summary>
        private static IReadOnlyList<GresItem> Typed(NodeSnapshot node, IReadOnlyList<GresDevice> devices)
        {
            var types = node.GresTotal.Devices().ToDictionary(d => d.Device, d => d.Type);
            return devices.Select(d => new GresItem(d.Name, types[d], 1)).ToList();
        }
    }
}
