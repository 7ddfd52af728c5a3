using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class BackfillPolicyTests
{
    [Fact]
    public void Plan_IsEmpty_WhenNothingIsPending()
    {
        var plan = Cluster.WithNodes(8).Plan();

        Assert.Empty(plan.Plan.Starts);
        Assert.Empty(plan.Plan.ReasonChanges);
    }

    [Fact]
    public void Plan_StartsJobsInSubmitOrder_WhenPrioritiesAreEqual()
    {
        var plan = Cluster.WithNodes(4)
            .Submit(cpus: 2)
            .Submit(cpus: 2)
            .Submit(cpus: 2)
            .Plan();

        Assert.Equal([1L, 2L], plan.StartedIds);
        plan.AssertStarted(1, "n01", 0, 1)
            .AssertStarted(2, "n01", 2, 3)
            .AssertWaiting(3, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_OrdersBySubmitTimeThenId_WhenIdsDisagreeWithSubmitTime()
    {
        var plan = Cluster.WithNodes(2)
            .Submit(cpus: 2, submitTime: Cluster.Epoch.AddMinutes(5))
            .Submit(cpus: 2, submitTime: Cluster.Epoch)
            .Plan();

        plan.AssertStarted(2, "n01").AssertWaiting(1, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_BreaksTiesById_WhenSubmitTimesAreEqual()
    {
        var plan = Cluster.WithNodes(2)
            .Submit(cpus: 2, submitTime: Cluster.Epoch)
            .Submit(cpus: 2, submitTime: Cluster.Epoch)
            .Plan();

        plan.AssertStarted(1, "n01").AssertWaiting(2, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_StartsHigherPriorityFirst_WhenNiceIsLower()
    {
        var plan = Cluster.WithNodes(2)
            .Submit(cpus: 2, nice: 0)
            .Submit(cpus: 2, nice: 100)
            .Submit(cpus: 2, nice: -10)
            .Plan();

        plan.AssertStarted(3, "n01")
            .AssertWaiting(1, PendingReasons.Resources)
            .AssertWaiting(2, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_PlacesOnFirstNodeInNameOrder_WhenSeveralNodesFit()
    {
        var plan = Cluster.Empty()
            .Node("n03", 8)
            .Node("n01", 8)
            .Node("n02", 8)
            .Submit(cpus: 2)
            .Plan();

        plan.AssertStarted(1, "n01", 0, 1);
    }

    [Fact]
    public void Plan_MovesToNextNode_WhenFirstNodeIsFull()
    {
        var plan = Cluster.WithNodes(8, 8, 4)
            .Submit(cpus: 6)
            .Submit(cpus: 4)
            .Submit(cpus: 2)
            .Submit(cpus: 4)
            .Plan();

        plan.AssertStarted(1, "n01", 0, 1, 2, 3, 4, 5)
            .AssertStarted(2, "n02", 0, 1, 2, 3)
            .AssertStarted(3, "n01", 6, 7)
            .AssertStarted(4, "n02", 4, 5, 6, 7);
    }

    [Fact]
    public void Plan_LetsSmallJobPassBigOne_WhenBigOneDoesNotFit()
    {
        var plan = Cluster.WithNodes(4)
            .Running("n01", [0, 1])
            .Submit(cpus: 4)
            .Submit(cpus: 2)
            .Submit(cpus: 4)
            .Submit(cpus: 1)
            .Plan();

        plan.AssertStarted(2, "n01", 2, 3)
            .AssertWaiting(1, PendingReasons.Resources)
            .AssertWaiting(3, PendingReasons.Priority)
            .AssertWaiting(4, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_ExampleScenario_StartsWhatFits()
    {
        var plan = Cluster.WithNodes(8, 8, 4)
            .Submit(cpus: 2)
            .Submit(cpus: 4, exclusive: true)
            .Submit(cpus: 8)
            .Plan();

        plan.AssertStarted(1, "n01", 0, 1)
            .AssertStarted(2, "n02", 0, 1, 2, 3)
            .AssertWaiting(3, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_TakesLowestFreeCores_WhenNodeHasRunningJobs()
    {
        var plan = Cluster.WithNodes(8)
            .Running("n01", [0, 2])
            .Running("n01", [5])
            .Submit(cpus: 3)
            .Submit(cpus: 2)
            .Plan();

        plan.AssertStarted(1, "n01", 1, 3, 4)
            .AssertStarted(2, "n01", 6, 7);
    }

    [Fact]
    public void Plan_DoesNotStart_WhenAllCoresAreTakenByRunningJobs()
    {
        var plan = Cluster.WithNodes(2)
            .Running("n01", [0, 1])
            .Submit(cpus: 1)
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_RespectsMemory_WhenRunningJobsHoldSome()
    {
        var plan = Cluster.Empty()
            .Node("n01", 8, memoryMiB: 4096)
            .Running("n01", [0], memoryMiB: 3072)
            .Submit(cpus: 1, memoryMiB: 2048)
            .Submit(cpus: 1, memoryMiB: 1024)
            .Submit(cpus: 1, memoryMiB: 1)
            .Plan();

        Assert.Equal(1024, plan.Start(2).MemoryMiB);
        plan.AssertStarted(2, "n01", 1)
            .AssertWaiting(1, PendingReasons.Resources)
            .AssertWaiting(3, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_PlacesOnNodeWithMemory_WhenFirstNodeHasCoresButNotMemory()
    {
        var plan = Cluster.Empty()
            .Node("n01", 8, memoryMiB: 1024)
            .Node("n02", 8, memoryMiB: 8192)
            .Submit(cpus: 1, memoryMiB: 2048)
            .Submit(cpus: 1, memoryMiB: 1024)
            .Plan();

        plan.AssertStarted(1, "n02").AssertStarted(2, "n01");
    }

    [Fact]
    public void Plan_PutsExclusiveJobOnEmptyNode_WhenFirstNodeIsBusy()
    {
        var plan = Cluster.WithNodes(8, 8)
            .Running("n01", [0])
            .Submit(cpus: 1, exclusive: true)
            .Plan();

        plan.AssertStarted(1, "n02", 0);
    }

    [Fact]
    public void Plan_KeepsOthersOffNode_WhenExclusiveJobStartsThere()
    {
        var plan = Cluster.WithNodes(8, 8)
            .Submit(cpus: 2, exclusive: true)
            .Submit(cpus: 1)
            .Submit(cpus: 1, exclusive: true)
            .Submit(cpus: 1)
            .Plan();

        plan.AssertStarted(1, "n01", 0, 1)
            .AssertStarted(2, "n02", 0)
            .AssertWaiting(3, PendingReasons.Resources)
            .AssertStarted(4, "n02", 1);
    }

    [Fact]
    public void Plan_KeepsOthersOffNode_WhenRunningJobIsExclusive()
    {
        var plan = Cluster.WithNodes(8)
            .Running("n01", [0], exclusive: true)
            .Submit(cpus: 1)
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_SetsJobHeldUser_WhenJobIsHeld()
    {
        var plan = Cluster.WithNodes(8)
            .Submit(cpus: 1, held: true)
            .Submit(cpus: 1)
            .Plan();

        plan.AssertWaiting(1, PendingReasons.JobHeldUser).AssertStarted(2, "n01", 0);
    }

    [Fact]
    public void Plan_DoesNotBlockPartition_WhenEarlierJobIsHeldOrWaitsForBeginTime()
    {
        var plan = Cluster.WithNodes(2)
            .Running("n01", [0, 1])
            .Submit(cpus: 1, held: true)
            .Submit(cpus: 1, begin: Cluster.Now.AddHours(1))
            .Submit(cpus: 1)
            .Plan();

        plan.AssertWaiting(1, PendingReasons.JobHeldUser)
            .AssertWaiting(2, PendingReasons.BeginTime)
            .AssertWaiting(3, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_SetsBeginTime_WhenBeginIsInTheFuture()
    {
        var plan = Cluster.WithNodes(8)
            .Submit(cpus: 1, begin: Cluster.Now.AddSeconds(1))
            .Plan();

        plan.AssertWaiting(1, PendingReasons.BeginTime);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(-3600)]
    public void Plan_StartsJob_WhenBeginIsNowOrInThePast(int secondsFromNow)
    {
        var plan = Cluster.WithNodes(8)
            .Submit(cpus: 1, begin: Cluster.Now.AddSeconds(secondsFromNow))
            .Plan();

        plan.AssertStarted(1, "n01", 0);
    }

    [Fact]
    public void Plan_StartsJob_WhenPlannedAgainAfterBeginTime()
    {
        var cluster = Cluster.WithNodes(8).Submit(cpus: 1, begin: Cluster.Now.AddMinutes(10));

        cluster.Plan(Cluster.Now).AssertWaiting(1, PendingReasons.BeginTime);
        cluster.Plan(Cluster.Now.AddMinutes(10)).AssertStarted(1, "n01");
    }

    [Theory]
    [InlineData(NodeState.Down, false)]
    [InlineData(NodeState.Up, true)]
    public void Plan_SkipsNode_WhenNodeIsDownOrDrained(NodeState state, bool drained)
    {
        var plan = Cluster.Empty()
            .Node("n01", 8, state: state, drained: drained)
            .Node("n02", 8)
            .Submit(cpus: 1)
            .Submit(cpus: 8)
            .Submit(cpus: 8)
            .Plan();

        Assert.DoesNotContain(plan.Plan.Starts, s => s.Node.Value == "n01");
        plan.AssertStarted(1, "n02", 0)
            .AssertWaiting(2, PendingReasons.Resources)
            .AssertWaiting(3, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_NamesTheDrainedNodes_WhenEveryNodeOfThePartitionIsDrained()
    {
        Cluster.Empty()
            .Node("n01", 8, drained: true)
            .Node("n02", 8, state: NodeState.Down)
            .Submit(cpus: 1)
            .Plan()
            .AssertWaiting(1, "ReqNodeNotAvail, UnavailableNodes:n01");
    }

    [Fact]
    public void Plan_SetsNodeDown_WhenPartitionHasNoUpNode()
    {
        var plan = Cluster.Empty()
            .Node("n01", 8, state: NodeState.Down)
            .Node("n02", 8, state: NodeState.Down)
            .Node("g01", 8, partitions: "gpu")
            .Submit(cpus: 1)
            .Submit(cpus: 1)
            .Submit(cpus: 1, partition: "gpu")
            .Plan();

        plan.AssertWaiting(1, PendingReasons.NodeDown)
            .AssertWaiting(2, PendingReasons.NodeDown)
            .AssertStarted(3, "g01");
    }

    [Fact]
    public void Plan_PlacesOnlyInJobsPartition_WhenNodesBelongToDifferentPartitions()
    {
        var plan = Cluster.Empty()
            .Node("a01", 8, partitions: "default")
            .Node("b01", 8, partitions: "gpu")
            .Node("c01", 8, DefaultMemory, NodeState.Up, partitions: ["gpu", "default"])
            .Submit(cpus: 1, partition: "gpu")
            .Submit(cpus: 8, partition: "gpu")
            .Submit(cpus: 8, partition: "default")
            .Submit(cpus: 1, partition: "gpu")
            .Plan();

        plan.AssertStarted(1, "b01", 0)
            .AssertStarted(2, "c01")
            .AssertStarted(3, "a01")
            .AssertStarted(4, "b01", 1);
    }

    [Fact]
    public void Plan_BlocksOnlyTheSamePartition_WhenAJobWaitsForResources()
    {
        var plan = Cluster.Empty()
            .Node("a01", 2, partitions: "default")
            .Node("b01", 2, partitions: "gpu")
            .Submit(cpus: 4, partition: "gpu")
            .Submit(cpus: 4, partition: "default")
            .Submit(cpus: 4, partition: "gpu")
            .Submit(cpus: 2, partition: "default")
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources)
            .AssertWaiting(2, PendingReasons.Resources)
            .AssertWaiting(3, PendingReasons.Priority)
            .AssertStarted(4, "a01");
    }

    [Fact]
    public void Plan_KeepsTheReasonOfARequeuesHold_AndNeverStartsTheJob()
    {
        var plan = Cluster.WithNodes(2)
            .Submit(cpus: 1, held: true, reason: PendingReasons.RequeuedHeld)
            .Submit(cpus: 1, held: true, reason: PendingReasons.JobHeldAdmin)
            .Plan();

        plan.AssertNotStarted(1).AssertNotStarted(2);
        Assert.Empty(plan.Plan.ReasonChanges);
    }

    [Fact]
    public void Plan_ListsOnlyChangedReasons_WhenJobsAlreadyHaveReasons()
    {
        var plan = Cluster.WithNodes(2)
            .Running("n01", [0, 1])
            .Submit(cpus: 2, reason: PendingReasons.Resources)
            .Submit(cpus: 1, reason: PendingReasons.Resources)
            .Submit(cpus: 1, held: true, reason: PendingReasons.JobHeldUser)
            .Submit(cpus: 1, begin: Cluster.Now.AddDays(1), reason: PendingReasons.Priority)
            .Submit(cpus: 1, reason: null)
            .Plan();

        Assert.Equal(
            [new ReasonChange(new JobId(2), PendingReasons.Priority), new ReasonChange(new JobId(4), PendingReasons.BeginTime), new ReasonChange(new JobId(5), PendingReasons.Priority)],
            plan.Plan.ReasonChanges);
    }

    [Fact]
    public void Plan_ListsNoReason_WhenJobStarts()
    {
        var plan = Cluster.WithNodes(2)
            .Submit(cpus: 1, reason: PendingReasons.Resources)
            .Plan();

        plan.AssertStarted(1, "n01");
        Assert.Empty(plan.Plan.ReasonChanges);
    }

    [Fact]
    public void Plan_NeverOvercommitsANode_WhenGivenRandomSnapshots()
    {
        var random = new Random(20260131);
        var started = 0;
        var waiting = 0;
        for (var iteration = 0; iteration < 200; iteration++)
        {
            var snapshot = RandomSnapshot(random);
            var now = Cluster.Now;
            var plan = new BackfillPolicy().Plan(snapshot, now);
            CheckPlan(snapshot, plan, now, $"iteration {iteration}");
            started += plan.Starts.Count;
            waiting += snapshot.Pending.Count - plan.Starts.Count;
        }

        // The generator must produce both outcomes, or the checks above prove little.
        Assert.True(started > 100, $"only {started} jobs started");
        Assert.True(waiting > 100, $"only {waiting} jobs waited");
    }

    [Fact]
    public void Plan_IsTheSame_WhateverOrderTheJobsComeIn()
    {
        // The policy sorts in arrays it rents and gives back; the last pass's order (sorted but for the jobs moved to
        // its end), the reverse and a shuffle must all give the same plan, pass after pass.
        var random = new Random(20261129);
        string[] accounts = ["alpha", "beta", "gamma"];
        var policy = new BackfillPolicy();
        for (var iteration = 0; iteration < 200; iteration++)
        {
            var snapshot = RandomSnapshot(random);
            snapshot = snapshot with
            {
                Pending = [.. snapshot.Pending.Select(j => j with { Account = accounts[random.Next(accounts.Length)] })],
            };
            var first = policy.Plan(snapshot, Cluster.Now);
            var byId = snapshot.Pending.ToDictionary(j => j.Id);
            var ordered = first.Order!.Select(id => byId[id]).ToList();
            var moved = ordered.Where((_, i) => i % 7 == 3).ToList();
            List<PendingJob>[] orders =
            [
                ordered,
                [.. ordered.Except(moved), .. moved],
                [.. Enumerable.Reverse(ordered)],
                [.. ordered.OrderBy(_ => random.Next())],
            ];
            foreach (var order in orders)
            {
                var again = policy.Plan(snapshot with { Pending = order }, Cluster.Now);
                Assert.Equal(Describe(first), Describe(again));
                Assert.Equal(first.Order, again.Order);
            }
        }

        static string Describe(SchedulingPlan plan) => string.Join(";",
            plan.Starts.Select(s => $"{s.JobId.Value}@{s.Node.Value}:{string.Join(',', s.Cores)}")
                .Concat(plan.ReasonChanges.Select(r => $"{r.JobId.Value}={r.Reason}"))
                .Concat(plan.ExpectedStarts.Select(e => $"{e.JobId.Value}>{e.Time:O}@{e.Node.Value}")));
    }

    private const long DefaultMemory = Cluster.DefaultNodeMemoryMiB;

    private static readonly string[] Partitions = ["a", "b", "c"];

    private static readonly string?[] Reasons =
        [null, PendingReasons.Resources, PendingReasons.Priority, PendingReasons.BeginTime, PendingReasons.JobHeldUser, PendingReasons.NodeDown];

    private static SchedulerSnapshot RandomSnapshot(Random random)
    {
        var nodes = new List<NodeSnapshot>();
        var nodeCount = random.Next(1, 6);
        var runningId = 10_000L;
        for (var i = 0; i < nodeCount; i++)
        {
            var cpus = random.Next(1, 17);
            var memory = random.Next(1, 17) * 1024L;
            var partitions = Partitions.Take(2).Where(_ => random.Next(2) == 0).ToList();
            if (partitions.Count == 0)
            {
                partitions.Add(Partitions[random.Next(2)]);
            }

            var draw = random.Next(6);
            var state = draw == 0 ? NodeState.Down : NodeState.Up;
            var drained = draw == 1;

            var free = Enumerable.Range(0, cpus).OrderBy(_ => random.Next()).ToList();
            var allocations = new List<RunningAllocation>();
            var usedMemory = 0L;
            var runningJobs = random.Next(0, 4);
            for (var j = 0; j < runningJobs && free.Count > 0; j++)
            {
                var take = random.Next(1, free.Count + 1);
                var cores = free.Take(take).Order().ToArray();
                free.RemoveRange(0, take);
                var mem = Math.Min(memory - usedMemory, random.Next(0, 4) * 1024L);
                usedMemory += mem;
                var exclusive = runningJobs == 1 && random.Next(5) == 0;
                allocations.Add(new RunningAllocation(new JobId(runningId++), cores, mem, exclusive));
            }

            nodes.Add(new NodeSnapshot(new NodeName($"n{i:00}"), cpus, memory, partitions, state, allocations, Drained: drained));
        }

        var pending = new List<PendingJob>();
        var jobCount = random.Next(0, 16);
        for (var j = 0; j < jobCount; j++)
        {
            DateTimeOffset? begin = random.Next(5) switch
            {
                0 => Cluster.Now.AddMinutes(random.Next(1, 60)),
                1 => Cluster.Now.AddMinutes(-random.Next(0, 60)),
                _ => null,
            };
            pending.Add(new PendingJob(
                new JobId(j + 1),
                Priority: random.Next(-1, 2),
                SubmitTime: Cluster.Epoch.AddSeconds(random.Next(0, 10)),
                Partition: Partitions[random.Next(Partitions.Length)],
                Cpus: random.Next(1, 9),
                MemoryMiB: random.Next(0, 5) * 1024L,
                Exclusive: random.Next(8) == 0,
                Held: random.Next(10) == 0,
                Begin: begin,
                TimeLimit: null,
                Reason: Reasons[random.Next(Reasons.Length)]));
        }

        return new SchedulerSnapshot(pending.OrderBy(_ => random.Next()).ToList(), nodes.OrderBy(_ => random.Next()).ToList());
    }

    /// <summary>Checks the invariants of a plan against its snapshot; throws with <paramref name="context"/> on failure.</summary>
    private static void CheckPlan(SchedulerSnapshot snapshot, SchedulingPlan plan, DateTimeOffset now, string context)
    {
        var jobs = snapshot.Pending.ToDictionary(j => j.Id);
        var nodes = snapshot.Nodes.ToDictionary(n => n.Name);

        var startedIds = plan.Starts.Select(s => s.JobId).ToList();
        Assert.True(startedIds.Distinct().Count() == startedIds.Count, $"{context}: a job started twice");
        var reasonIds = plan.ReasonChanges.Select(r => r.JobId).ToList();
        Assert.True(reasonIds.Distinct().Count() == reasonIds.Count, $"{context}: a job has two reason changes");
        Assert.True(!reasonIds.Intersect(startedIds).Any(), $"{context}: a started job also got a reason");

        foreach (var start in plan.Starts)
        {
            Assert.True(jobs.TryGetValue(start.JobId, out var job), $"{context}: job {start.JobId} is not pending");
            Assert.True(nodes.TryGetValue(start.Node, out var node), $"{context}: node {start.Node} is unknown");
            Assert.False(job.Held, $"{context}: held job {job.Id} started");
            Assert.True(job.Begin is null || job.Begin <= now, $"{context}: job {job.Id} started before its begin time");
            Assert.True(node.State == NodeState.Up && !node.Drained, $"{context}: job {job.Id} started on {node.State} node {node.Name}");
            Assert.True(node.Partitions.Contains(job.Partition), $"{context}: job {job.Id} started outside partition {job.Partition}");
            Assert.True(start.Cores.Count == job.Cpus, $"{context}: job {job.Id} got {start.Cores.Count} cores for {job.Cpus} CPUs");
            Assert.True(start.MemoryMiB == job.MemoryMiB, $"{context}: job {job.Id} memory differs");
            Assert.True(start.Cores.All(c => c >= 0 && c < node.Cpus), $"{context}: job {job.Id} got a core outside node {node.Name}");
        }

        foreach (var node in snapshot.Nodes)
        {
            var running = node.Allocations.SelectMany(a => a.Cores).ToHashSet();
            var freeCores = node.Cpus - running.Count;
            var freeMemory = node.MemoryMiB - node.Allocations.Sum(a => a.MemoryMiB);
            var starts = plan.Starts.Where(s => s.Node == node.Name).ToList();
            var newCores = starts.SelectMany(s => s.Cores).ToList();

            Assert.True(newCores.Distinct().Count() == newCores.Count, $"{context}: two new jobs share a core on {node.Name}");
            Assert.True(!newCores.Any(running.Contains), $"{context}: a new job shares a core with a running job on {node.Name}");
            Assert.True(starts.Sum(s => jobs[s.JobId].Cpus) <= freeCores, $"{context}: {node.Name} over-committed in CPUs");
            Assert.True(starts.Sum(s => s.MemoryMiB) <= freeMemory, $"{context}: {node.Name} over-committed in memory");

            var exclusiveStarts = starts.Count(s => jobs[s.JobId].Exclusive);
            if (exclusiveStarts > 0)
            {
                Assert.True(node.Allocations.Count == 0 && starts.Count == 1, $"{context}: exclusive job shares {node.Name}");
            }

            if (node.Allocations.Any(a => a.Exclusive))
            {
                Assert.True(starts.Count == 0, $"{context}: job started on exclusively held {node.Name}");
            }
        }

        // Capacity only shrinks during a pass, so an eligible job left waiting must not fit anywhere at the end.
        foreach (var job in snapshot.Pending.Where(j => !startedIds.Contains(j.Id) && !j.Held && (j.Begin is null || j.Begin <= now)))
        {
            foreach (var node in snapshot.Nodes.Where(n => n.State == NodeState.Up && !n.Drained && n.Partitions.Contains(job.Partition)))
            {
                var starts = plan.Starts.Where(s => s.Node == node.Name).ToList();
                var jobsOnNode = node.Allocations.Count + starts.Count;
                var heldExclusively = node.Allocations.Any(a => a.Exclusive) || starts.Any(s => jobs[s.JobId].Exclusive);
                var freeCores = node.Cpus - node.Allocations.SelectMany(a => a.Cores).Distinct().Count() - starts.Sum(s => s.Cores.Count);
                var freeMemory = node.MemoryMiB - node.Allocations.Sum(a => a.MemoryMiB) - starts.Sum(s => s.MemoryMiB);
                var fits = !heldExclusively && (!job.Exclusive || jobsOnNode == 0) && job.Cpus <= freeCores && job.MemoryMiB <= freeMemory;
                Assert.False(fits, $"{context}: job {job.Id} was left waiting although it fits on {node.Name}");
            }
        }

        // Every job left waiting has a reason, whether new or unchanged.
        foreach (var job in snapshot.Pending.Where(j => !startedIds.Contains(j.Id)))
        {
            var change = plan.ReasonChanges.SingleOrDefault(r => r.JobId == job.Id);
            var reason = change?.Reason ?? job.Reason;
            Assert.True(reason is not null, $"{context}: waiting job {job.Id} has no reason");
            if (change is not null)
            {
                Assert.True(change.Reason != job.Reason, $"{context}: job {job.Id} reason listed although unchanged");
            }

            if (job.Held || job.Begin > now)
            {
                var expected = job.Held ? PendingReasons.JobHeldUser : PendingReasons.BeginTime;
                Assert.True(reason == expected, $"{context}: job {job.Id} should wait for {expected}, not {reason}");
            }
            else
            {
                Assert.True(
                    reason is PendingReasons.Resources or PendingReasons.Priority or PendingReasons.NodeDown ||
                    reason?.StartsWith("ReqNodeNotAvail", StringComparison.Ordinal) == true,
                    $"{context}: eligible job {job.Id} waits for {reason}");
            }
        }
    }

    [Fact]
    public void Plan_TriesNodesInNaturalNameOrder_SoNode2ComesBeforeNode10()
    {
        var plan = Cluster.Empty()
            .Node("node10", 4, partitions: "default")
            .Node("node2", 4, partitions: "default")
            .Submit(cpus: 1)
            .Plan();

        plan.AssertStarted(1, "node2", 0);
    }

    [Theory]
    [InlineData("node2", "node10", -1)]
    [InlineData("node10", "node10", 0)]
    [InlineData("a01", "a1", -1)]
    [InlineData("rack2-node3", "rack10-node1", -1)]
    [InlineData("b", "a9", 1)]
    public void NaturalComparer_ComparesDigitRunsAsNumbers(string x, string y, int sign)
    {
        Assert.Equal(sign, Math.Sign(NaturalComparer.Instance.Compare(x, y)));
    }
}
