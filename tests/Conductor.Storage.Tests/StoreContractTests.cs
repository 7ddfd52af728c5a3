using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>The four store interfaces of one backend, as the contract suite sees them.</summary>
public sealed record StoreUnderTest(IJobStore Jobs, INodeStore Nodes, ISchedulerStore Scheduler, IAgentStore Agent);

/// <summary>
/// The behaviour every store backend must have, written against the interfaces only. A backend's test class
/// derives from this and supplies a fresh, empty store per test.
/// </summary>
public abstract partial class StoreContractTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    protected static readonly NodeName Node1 = new("node1");
    protected static readonly NodeName Node2 = new("node2");

    private StoreUnderTest? _store;

    protected StoreUnderTest Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");
    protected IJobStore Jobs => Store.Jobs;
    protected INodeStore Nodes => Store.Nodes;
    protected ISchedulerStore Scheduler => Store.Scheduler;
    protected IAgentStore Agent => Store.Agent;

    protected static CancellationToken Ct => CancellationToken.None;

    /// <summary>Creates a fresh, empty store.</summary>
    protected abstract Task<StoreUnderTest> CreateStoreAsync();

    public virtual async Task InitializeAsync() => _store = await CreateStoreAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    protected static JobSpec Spec(string name = "job", string account = "alice", string partition = "batch", int cpus = 1) => new()
    {
        Name = name,
        Account = account,
        Partition = partition,
        CpusPerTask = cpus,
        WorkDir = "/home/alice",
    };

    protected Task<JobId> SubmitAsync(JobSpec? spec = null, DateTimeOffset? at = null) =>
        Jobs.SubmitAsync(new NewJob(spec ?? Spec(), "#!/bin/sh\necho hi\n", at ?? T0), Ct);

    protected Task RegisterAsync(NodeName node, int cpus = 8, long memory = 16384, string partition = "batch") =>
        Nodes.RegisterAsync(new NodeRegistration(node, cpus, memory, [partition], "10.0.0.1:7000"), T0, Ct);

    protected async Task<JobStart> StartAsync(JobId id, NodeName node, int[] cores, long memory = 0, DateTimeOffset? now = null)
    {
        var start = new JobStart(id, node, cores, memory);
        var won = await Scheduler.CommitAsync(new SchedulingPlan([start], []), now ?? T0.AddSeconds(1), Ct);
        Assert.Single(won);
        return start;
    }

    protected async Task<JobRecord> GetAsync(JobId id) =>
        await Jobs.GetAsync(id, Ct) ?? throw new InvalidOperationException($"Job {id} is missing.");

    protected async Task<NodeRecord> NodeAsync(NodeName node) =>
        (await Nodes.ListAsync(Ct)).Single(n => n.Name == node);

    protected static LaunchRecord Launch(int pid = 4242) =>
        new(pid, 123456789, "/home/alice/slurm-1.out", "/home/alice/slurm-1.err", T0.AddSeconds(2));

    // ---- jobs ----

    [StoreFact]
    public async Task SubmitAsync_RoundTripsEverySpecField_WhenReadBack()
    {
        var spec = new JobSpec
        {
            Name = "train model",
            Account = "physics",
            Partition = "gpu",
            CpusPerTask = 4,
            Ntasks = 2,
            NtasksPerNode = 2,
            MemoryMiB = 8192,
            TimeLimit = TimeSpan.FromHours(2) + TimeSpan.FromSeconds(5),
            WorkDir = "/scratch/run",
            StdoutPattern = "out-%j.txt",
            StderrPattern = "err-%j.txt",
            Environment = new Dictionary<string, string> { ["A"] = "1", ["PATH"] = "/usr/bin:/bin", ["QUOTE"] = "a \"b\" \n c" },
            Arguments = ["--epochs", "10", "x y"],
            Exclusive = true,
            Requeue = true,
            MaxRetries = 3,
            Nice = 50,
            Hold = true,
            Begin = T0.AddHours(1),
        };

        var id = await SubmitAsync(spec, T0);
        var job = await GetAsync(id);

        Assert.Equal(id, job.Id);
        Assert.Equal(JobState.Pending, job.State);
        Assert.Equal(0, job.Attempt);
        Assert.Equal(T0, job.SubmitTime);
        Assert.Equal(T0.AddHours(1), job.EligibleTime);
        Assert.Null(job.StartTime);
        Assert.Null(job.EndTime);
        Assert.Null(job.Node);
        Assert.Empty(job.Cores);
        Assert.Null(job.ExitCode);
        Assert.Equal(spec.Name, job.Spec.Name);
        Assert.Equal(spec.Account, job.Spec.Account);
        Assert.Equal(spec.Partition, job.Spec.Partition);
        Assert.Equal(spec.CpusPerTask, job.Spec.CpusPerTask);
        Assert.Equal(spec.Ntasks, job.Spec.Ntasks);
        Assert.Equal(spec.NtasksPerNode, job.Spec.NtasksPerNode);
        Assert.Equal(spec.MemoryMiB, job.Spec.MemoryMiB);
        Assert.Equal(spec.TimeLimit, job.Spec.TimeLimit);
        Assert.Equal(spec.WorkDir, job.Spec.WorkDir);
        Assert.Equal(spec.StdoutPattern, job.Spec.StdoutPattern);
        Assert.Equal(spec.StderrPattern, job.Spec.StderrPattern);
        Assert.Equal(spec.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal), job.Spec.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal(spec.Arguments, job.Spec.Arguments);
        Assert.True(job.Spec.Exclusive);
        Assert.True(job.Spec.Requeue);
        Assert.Equal(3, job.Spec.MaxRetries);
        Assert.Equal(50, job.Spec.Nice);
        Assert.True(job.Spec.Hold);
        Assert.Equal(spec.Begin, job.Spec.Begin);
    }

    [StoreFact]
    public async Task SubmitAsync_KeepsOptionalFieldsNull_WhenSpecLeavesThemUnset()
    {
        var id = await SubmitAsync(Spec());
        var job = await GetAsync(id);

        Assert.Null(job.Spec.MemoryMiB);
        Assert.Null(job.Spec.TimeLimit);
        Assert.Null(job.Spec.StderrPattern);
        Assert.Null(job.Spec.Begin);
        Assert.Empty(job.Spec.Environment);
        Assert.Empty(job.Spec.Arguments);
        Assert.Equal(T0, job.EligibleTime);
        Assert.Null(job.Reason);
    }

    [StoreFact]
    public async Task SubmitAsync_ReturnsIncreasingIdsStartingAtOne_WhenCalledRepeatedly()
    {
        var ids = new List<JobId>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await SubmitAsync());
        }

        Assert.Equal(new JobId(1), ids[0]);
        Assert.Equal(ids.OrderBy(id => id.Value), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [StoreFact]
    public async Task GetAsync_ReturnsNull_WhenJobDoesNotExist()
    {
        Assert.Null(await Jobs.GetAsync(new JobId(999), Ct));
    }

    [StoreFact]
    public async Task ListAsync_FiltersByStateAccountPartitionAndNode_WhenFiltersGiven()
    {
        await RegisterAsync(Node1);
        var a1 = await SubmitAsync(Spec(account: "alice", partition: "batch"));
        var b1 = await SubmitAsync(Spec(account: "bob", partition: "batch"));
        var a2 = await SubmitAsync(Spec(account: "alice", partition: "gpu"));
        await StartAsync(a1, Node1, [0]);

        var alice = await Jobs.ListAsync(new JobQuery { Account = "alice" }, Ct);
        var gpu = await Jobs.ListAsync(new JobQuery { Partition = "gpu" }, Ct);
        var running = await Jobs.ListAsync(new JobQuery { States = [JobState.Running] }, Ct);
        var pendingOrRunning = await Jobs.ListAsync(new JobQuery { States = [JobState.Pending, JobState.Running] }, Ct);
        var onNode = await Jobs.ListAsync(new JobQuery { Node = Node1 }, Ct);
        var pendingBatch = await Jobs.ListAsync(new JobQuery { States = [JobState.Pending], Partition = "batch" }, Ct);

        Assert.Equal([a1, a2], alice.Select(j => j.Id));
        Assert.Equal([a2], gpu.Select(j => j.Id));
        Assert.Equal([a1], running.Select(j => j.Id));
        Assert.Equal([a1, b1, a2], pendingOrRunning.Select(j => j.Id));
        Assert.Equal([a1], onNode.Select(j => j.Id));
        Assert.Equal([b1], pendingBatch.Select(j => j.Id));
    }

    [StoreFact]
    public async Task ListAsync_PagesByKeyset_WhenAscending()
    {
        var ids = new List<JobId>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add(await SubmitAsync());
        }

        var page1 = await Jobs.ListAsync(new JobQuery { Limit = 3 }, Ct);
        var page2 = await Jobs.ListAsync(new JobQuery { Limit = 3, After = page1[^1].Id }, Ct);
        var page3 = await Jobs.ListAsync(new JobQuery { Limit = 3, After = page2[^1].Id }, Ct);
        var page4 = await Jobs.ListAsync(new JobQuery { Limit = 3, After = page3[^1].Id }, Ct);

        Assert.Equal(ids[0..3], page1.Select(j => j.Id));
        Assert.Equal(ids[3..6], page2.Select(j => j.Id));
        Assert.Equal(ids[6..], page3.Select(j => j.Id));
        Assert.Empty(page4);
    }

    [StoreFact]
    public async Task ListAsync_PagesByKeysetNewestFirst_WhenDescending()
    {
        var ids = new List<JobId>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add(await SubmitAsync());
        }

        ids.Reverse();
        var page1 = await Jobs.ListAsync(new JobQuery { Limit = 3, Descending = true }, Ct);
        var page2 = await Jobs.ListAsync(new JobQuery { Limit = 3, Descending = true, After = page1[^1].Id }, Ct);
        var page3 = await Jobs.ListAsync(new JobQuery { Limit = 3, Descending = true, After = page2[^1].Id }, Ct);

        Assert.Equal(ids[0..3], page1.Select(j => j.Id));
        Assert.Equal(ids[3..6], page2.Select(j => j.Id));
        Assert.Equal(ids[6..], page3.Select(j => j.Id));
    }

    [StoreFact]
    public async Task ListAsync_ClampsLimit_WhenLimitIsOutOfRange()
    {
        await SubmitAsync();
        await SubmitAsync();

        var zero = await Jobs.ListAsync(new JobQuery { Limit = 0 }, Ct);
        var huge = await Jobs.ListAsync(new JobQuery { Limit = int.MaxValue }, Ct);

        Assert.Single(zero);
        Assert.Equal(2, huge.Count);
    }

    [StoreFact]
    public async Task GetEventsAsync_ReturnsEventsInOrder_WhenSeveralAppended()
    {
        var id = await SubmitAsync();
        await Agent.AppendEventAsync(id, JobEventKind.Stage, "staging", T0.AddSeconds(1), Ct);
        await Agent.AppendEventAsync(id, JobEventKind.Warning, "low disk", T0.AddSeconds(2), Ct);

        var events = await Jobs.GetEventsAsync(id, Ct);

        Assert.Equal([JobEventKind.Submitted, JobEventKind.Stage, JobEventKind.Warning], events.Select(e => e.Kind));
        Assert.Equal(events.Select(e => e.Sequence).Order(), events.Select(e => e.Sequence));
        Assert.All(events, e => Assert.Equal(id, e.JobId));
        Assert.Equal("low disk", events[2].Detail);
        Assert.Equal(T0.AddSeconds(2), events[2].Time);
    }

    [StoreFact]
    public async Task CancelAsync_EndsPendingJobWithSuccessCode_WhenPending()
    {
        var id = await SubmitAsync();
        await Scheduler.CommitAsync(new SchedulingPlan([], [new ReasonChange(id, PendingReasons.Resources)]), T0, Ct);

        var result = await Jobs.CancelAsync(id, T0.AddMinutes(1), "by alice", Ct);

        Assert.Equal(new CancelResult(CancelOutcome.Cancelled, JobState.Cancelled, null), result);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal(T0.AddMinutes(1), job.EndTime);
        Assert.Equal(ExitCode.Success, job.ExitCode);
        Assert.Null(job.Reason);
        var events = await Jobs.GetEventsAsync(id, Ct);
        Assert.Equal([JobEventKind.Submitted, JobEventKind.CancelRequested, JobEventKind.Finished], events.Select(e => e.Kind));
        Assert.Equal("by alice", events[1].Detail);
        Assert.Empty((await Scheduler.LoadSnapshotAsync(Ct)).Pending);
    }

    [StoreFact]
    public async Task CancelAsync_ReleasesTheAllocationAtOnce_WhenTheJobWasPlacedButNeverLaunched()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec(cpus: 2));
        await StartAsync(id, Node1, [0, 1], 512);

        var result = await Jobs.CancelAsync(id, T0.AddMinutes(1), "by alice", Ct);

        Assert.Equal(new CancelResult(CancelOutcome.Cancelled, JobState.Cancelled, Node1), result);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal(ExitCode.Success, job.ExitCode);
        var node = await NodeAsync(Node1);
        Assert.Equal(0, node.AllocatedCpus);
        Assert.Equal(0, node.RunningJobs);
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Empty(await Agent.GetDispatchesAsync(Node1, Ct));
        var events = await Jobs.GetEventsAsync(id, Ct);
        Assert.Equal(JobEventKind.Finished, events[^1].Kind);
    }

    [StoreFact]
    public async Task CancelAsync_EndsJobAndKeepsAllocation_WhenRunning()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec(cpus: 2));
        await StartAsync(id, Node1, [0, 1], 512);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));

        var result = await Jobs.CancelAsync(id, T0.AddMinutes(1), "by alice", Ct);

        Assert.Equal(new CancelResult(CancelOutcome.Cancelled, JobState.Cancelled, Node1), result);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal(T0.AddMinutes(1), job.EndTime);
        Assert.Null(job.ExitCode);
        var node = await NodeAsync(Node1);
        Assert.Equal(2, node.AllocatedCpus);
        Assert.Equal(1, node.RunningJobs);
        var nodeJob = Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Equal(JobState.Cancelled, nodeJob.State);
        var events = await Jobs.GetEventsAsync(id, Ct);
        Assert.Equal(JobEventKind.CancelRequested, events[^1].Kind);
        Assert.DoesNotContain(events, e => e.Kind == JobEventKind.Finished);
    }

    [StoreFact]
    public async Task SetHoldAsync_HoldsAndReleasesAPendingJob_WithAnEventEach()
    {
        var id = await SubmitAsync();

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.HoldUser, false, T0.AddMinutes(1), "held by alice", Ct));
        Assert.True((await GetAsync(id)).Spec.Hold);
        Assert.Equal(PendingReasons.JobHeldUser, (await GetAsync(id)).Reason);
        Assert.True(Assert.Single((await Scheduler.LoadSnapshotAsync(Ct)).Pending).Held);
        Assert.Equal(HoldOutcome.Unchanged, await Jobs.SetHoldAsync(id, HoldAction.HoldUser, false, T0.AddMinutes(2), "again", Ct));

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.Release, false, T0.AddMinutes(3), "released by alice", Ct));
        Assert.False((await GetAsync(id)).Spec.Hold);
        Assert.False(Assert.Single((await Scheduler.LoadSnapshotAsync(Ct)).Pending).Held);
        var events = await Jobs.GetEventsAsync(id, Ct);
        Assert.Equal([JobEventKind.Submitted, JobEventKind.Held, JobEventKind.Released], events.Select(e => e.Kind));
        Assert.Equal("released by alice", events[^1].Detail);
    }

    [StoreFact]
    public async Task SetHoldAsync_ChangesNothing_WhenTheJobHasEndedOrIsMissing()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));
        await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Completed, ExitCode.Success, null, T0.AddSeconds(9)), Ct);

        Assert.Equal(HoldOutcome.NotPending, await Jobs.SetHoldAsync(id, HoldAction.HoldUser, false, T0.AddMinutes(1), "too late", Ct));
        Assert.False((await GetAsync(id)).Spec.Hold);
        Assert.Equal(HoldOutcome.NotFound, await Jobs.SetHoldAsync(new JobId(999_999), HoldAction.Release, false, T0, "nothing", Ct));
    }

    [StoreFact]
    public async Task CancelAsync_ReturnsAlreadyTerminal_WhenCancelledTwice()
    {
        var id = await SubmitAsync();
        await Jobs.CancelAsync(id, T0.AddMinutes(1), "first", Ct);
        var eventsBefore = (await Jobs.GetEventsAsync(id, Ct)).Count;

        var result = await Jobs.CancelAsync(id, T0.AddMinutes(2), "second", Ct);

        Assert.Equal(CancelOutcome.AlreadyTerminal, result.Outcome);
        Assert.Equal(JobState.Cancelled, result.State);
        Assert.Equal(T0.AddMinutes(1), (await GetAsync(id)).EndTime);
        Assert.Equal(eventsBefore, (await Jobs.GetEventsAsync(id, Ct)).Count);
    }

    [StoreFact]
    public async Task CancelAsync_ReturnsNotFound_WhenJobIsMissing()
    {
        var result = await Jobs.CancelAsync(new JobId(77), T0, "x", Ct);

        Assert.Equal(CancelOutcome.NotFound, result.Outcome);
        Assert.Null(result.Node);
    }

    [StoreFact]
    public async Task CountByStateAsync_CountsEachState_WhenJobsInSeveralStates()
    {
        await RegisterAsync(Node1);
        var running = await SubmitAsync();
        var cancelled = await SubmitAsync();
        await SubmitAsync();
        await SubmitAsync();
        await StartAsync(running, Node1, [0]);
        await Jobs.CancelAsync(cancelled, T0, "x", Ct);

        var counts = await Jobs.CountByStateAsync(Ct);

        Assert.Equal(2, counts[JobState.Pending]);
        Assert.Equal(1, counts[JobState.Running]);
        Assert.Equal(1, counts[JobState.Cancelled]);
        Assert.Equal(0, counts[JobState.Completed]);
        Assert.Equal(4, counts.Total);
    }

    // ---- nodes ----

    [StoreFact]
    public async Task RegisterAsync_UpsertsNodeAsUp_WhenRegisteredTwice()
    {
        await Nodes.RegisterAsync(new NodeRegistration(Node1, 4, 1024, ["batch"]), T0, Ct);
        await Nodes.RegisterAsync(new NodeRegistration(Node1, 16, 65536, ["batch", "gpu"], "host:1"), T0.AddMinutes(1), Ct);

        var node = Assert.Single(await Nodes.ListAsync(Ct));

        Assert.Equal(Node1, node.Name);
        Assert.Equal(16, node.Cpus);
        Assert.Equal(65536, node.MemoryMiB);
        Assert.Equal(["batch", "gpu"], node.Partitions);
        Assert.Equal(NodeState.Up, node.State);
        Assert.Equal(T0.AddMinutes(1), node.LastHeartbeat);
        Assert.Equal(0, node.AllocatedCpus);
        Assert.Equal(0, node.RunningJobs);
    }

    [StoreFact]
    public async Task HeartbeatAsync_UpdatesLastHeartbeat_WhenNodeIsRegistered()
    {
        await RegisterAsync(Node1);

        await Nodes.HeartbeatAsync(Node1, T0.AddSeconds(30), Ct);

        Assert.Equal(T0.AddSeconds(30), (await NodeAsync(Node1)).LastHeartbeat);
    }

    [StoreFact]
    public async Task NodeListAsync_ShowsAllocationsRisingAndFalling_WhenJobsStartAndFinish()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var a = await SubmitAsync(Spec(cpus: 2));
        var b = await SubmitAsync(Spec(cpus: 3));

        await Scheduler.CommitAsync(new SchedulingPlan([new JobStart(a, Node1, [0, 1], 1000), new JobStart(b, Node1, [2, 3, 4], 500)], []), T0, Ct);
        var busy = await NodeAsync(Node1);
        await Agent.FinishAsync(new JobCompletion(a, 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(1)), Ct);
        await Agent.FinishAsync(new JobCompletion(b, 1, JobState.Failed, ExitCode.Exited(1), null, T0.AddMinutes(1)), Ct);
        var idle = await NodeAsync(Node1);

        Assert.Equal((5, 1500L, 2), (busy.AllocatedCpus, busy.AllocatedMemoryMiB, busy.RunningJobs));
        Assert.Equal((0, 0L, 0), (idle.AllocatedCpus, idle.AllocatedMemoryMiB, idle.RunningJobs));
        Assert.Equal(0, (await NodeAsync(Node2)).AllocatedCpus);
    }

    // ---- scheduler ----

    [StoreFact]
    public async Task LoadSnapshotAsync_ReturnsPendingJobsAndNodesWithAllocations_WhenMixed()
    {
        await RegisterAsync(Node1, cpus: 8, memory: 4096);
        await RegisterAsync(Node2, cpus: 4, memory: 2048, partition: "gpu");
        var running = await SubmitAsync(Spec(cpus: 2) with { TimeLimit = TimeSpan.FromMinutes(10), Exclusive = true });
        var pending = await SubmitAsync(Spec(partition: "gpu", cpus: 3) with
        {
            Ntasks = 2,
            MemoryMiB = 700,
            Hold = true,
            Nice = 5,
            Begin = T0.AddHours(1),
            TimeLimit = TimeSpan.FromMinutes(30),
        }, T0.AddSeconds(5));
        var plain = await SubmitAsync(Spec());
        var cancelled = await SubmitAsync();
        await Jobs.CancelAsync(cancelled, T0, "x", Ct);
        await StartAsync(running, Node1, [2, 3], 256, T0.AddMinutes(1));
        await Scheduler.CommitAsync(new SchedulingPlan([], [new ReasonChange(pending, PendingReasons.JobHeldUser)]), T0, Ct);

        var snapshot = await Scheduler.LoadSnapshotAsync(Ct);

        Assert.Equal([pending, plain], snapshot.Pending.Select(p => p.Id).Order());
        var p = snapshot.Pending.Single(j => j.Id == pending);
        Assert.Equal(new PendingJob(pending, -5, T0.AddSeconds(5), "gpu", 6, 700, false, true, T0.AddHours(1), TimeSpan.FromMinutes(30), PendingReasons.JobHeldUser, "alice"), p);
        var q = snapshot.Pending.Single(j => j.Id == plain);
        Assert.Equal(new PendingJob(plain, 0, T0, "batch", 1, 0, false, false, null, null, null, "alice"), q);

        Assert.Equal([Node1, Node2], snapshot.Nodes.Select(n => n.Name).OrderBy(n => n.Value, StringComparer.Ordinal));
        var n1 = snapshot.Nodes.Single(n => n.Name == Node1);
        Assert.Equal((8, 4096L, NodeState.Up), (n1.Cpus, n1.MemoryMiB, n1.State));
        Assert.Equal(["batch"], n1.Partitions);
        var allocation = Assert.Single(n1.Allocations);
        Assert.Equal(running, allocation.JobId);
        Assert.Equal([2, 3], allocation.Cores);
        Assert.Equal(256, allocation.MemoryMiB);
        Assert.True(allocation.Exclusive);
        Assert.Equal(T0.AddMinutes(11), allocation.ExpectedEnd);
        Assert.Empty(snapshot.Nodes.Single(n => n.Name == Node2).Allocations);
    }

    [StoreFact]
    public async Task CommitAsync_StartsJobWithAttemptOneAndAllocation_WhenPending()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec(cpus: 2));
        await Scheduler.CommitAsync(new SchedulingPlan([], [new ReasonChange(id, PendingReasons.Resources)]), T0, Ct);

        var won = await Scheduler.CommitAsync(new SchedulingPlan([new JobStart(id, Node1, [4, 5], 300)], []), T0.AddSeconds(3), Ct);

        Assert.Single(won);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Running, job.State);
        Assert.Equal(1, job.Attempt);
        Assert.Equal(Node1, job.Node);
        Assert.Equal([4, 5], job.Cores);
        Assert.Equal(T0.AddSeconds(3), job.StartTime);
        Assert.Null(job.Reason);
        var allocation = Assert.Single(Assert.Single((await Scheduler.LoadSnapshotAsync(Ct)).Nodes).Allocations);
        Assert.Equal((id, 300L), (allocation.JobId, allocation.MemoryMiB));
        var scheduled = (await Jobs.GetEventsAsync(id, Ct))[^1];
        Assert.Equal(JobEventKind.Scheduled, scheduled.Kind);
        Assert.Equal("node=node1 cpus=2 cores=4,5", scheduled.Detail);
    }

    [StoreFact]
    public async Task CommitAsync_SkipsJob_WhenCancelledBeforeCommit()
    {
        await RegisterAsync(Node1);
        var keep = await SubmitAsync();
        var gone = await SubmitAsync();
        await Scheduler.LoadSnapshotAsync(Ct);
        await Jobs.CancelAsync(gone, T0, "changed my mind", Ct);

        var won = await Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(gone, Node1, [0], 0), new JobStart(keep, Node1, [1], 0)], []), T0, Ct);

        Assert.Equal([keep], won.Select(s => s.JobId));
        Assert.Equal(JobState.Cancelled, (await GetAsync(gone)).State);
        Assert.Equal(0, (await GetAsync(gone)).Attempt);
        Assert.Equal(1, (await NodeAsync(Node1)).AllocatedCpus);
    }

    [StoreFact]
    public async Task CommitAsync_StartsNothing_WhenJobAlreadyRunning()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        var again = await Scheduler.CommitAsync(new SchedulingPlan([new JobStart(id, Node2, [0], 0)], []), T0, Ct);
        var twiceInOnePlan = await Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(id, Node2, [1], 0), new JobStart(id, Node2, [2], 0)], []), T0, Ct);

        Assert.Empty(again);
        Assert.Empty(twiceInOnePlan);
        var job = await GetAsync(id);
        Assert.Equal((1, Node1), (job.Attempt, job.Node));
        Assert.Equal(1, (await NodeAsync(Node1)).RunningJobs);
        Assert.Equal(0, (await NodeAsync(Node2)).RunningJobs);
    }

    [StoreFact]
    public async Task CommitAsync_StartsJobOnce_WhenListedTwiceInOnePlan()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();

        var won = await Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(id, Node1, [0], 0), new JobStart(id, Node1, [1], 0)], []), T0, Ct);

        Assert.Equal([0], Assert.Single(won).Cores);
        Assert.Equal(1, (await NodeAsync(Node1)).AllocatedCpus);
    }

    [StoreFact]
    public async Task CommitAsync_UpdatesReasonOnlyOfPendingJobs_WhenReasonChangesGiven()
    {
        await RegisterAsync(Node1);
        var pending = await SubmitAsync();
        var running = await SubmitAsync();
        await StartAsync(running, Node1, [0]);

        await Scheduler.CommitAsync(
            new SchedulingPlan([], [new ReasonChange(pending, PendingReasons.Priority), new ReasonChange(running, PendingReasons.Resources)]), T0, Ct);

        Assert.Equal(PendingReasons.Priority, (await GetAsync(pending)).Reason);
        Assert.Null((await GetAsync(running)).Reason);
        Assert.Equal(PendingReasons.Priority, (await Scheduler.LoadSnapshotAsync(Ct)).Pending.Single().Reason);
    }

    // ---- agent ----

    [StoreFact]
    public async Task GetDispatchesAsync_ReturnsJobWithScriptUntilLaunched_WhenScheduled()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var id = await Jobs.SubmitAsync(new NewJob(Spec(), "#!/bin/bash\nsleep 1\n", T0), Ct);
        await StartAsync(id, Node1, [0]);

        var before = await Agent.GetDispatchesAsync(Node1, Ct);
        var otherNode = await Agent.GetDispatchesAsync(Node2, Ct);
        var launched = await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct);
        var after = await Agent.GetDispatchesAsync(Node1, Ct);

        var dispatch = Assert.Single(before);
        Assert.Equal(id, dispatch.Job.Id);
        Assert.Equal(1, dispatch.Job.Attempt);
        Assert.Equal("#!/bin/bash\nsleep 1\n", dispatch.Script);
        Assert.Empty(otherNode);
        Assert.True(launched);
        Assert.Empty(after);
        var job = await GetAsync(id);
        Assert.Equal(4242, job.ProcessId);
        Assert.Equal("/home/alice/slurm-1.out", job.StdoutPath);
        Assert.Equal("/home/alice/slurm-1.err", job.StderrPath);
        var evt = (await Jobs.GetEventsAsync(id, Ct))[^1];
        Assert.Equal((JobEventKind.Launched, "pid=4242"), (evt.Kind, evt.Detail));
        var nodeJob = Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Equal(new NodeJob(id, 1, JobState.Running, true, 4242, 123456789), nodeJob);
    }

    [StoreFact]
    public async Task GetDispatchesAsync_SkipsJob_WhenCancelledBeforeLaunch()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        await Jobs.CancelAsync(id, T0, "x", Ct);

        Assert.Empty(await Agent.GetDispatchesAsync(Node1, Ct));
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
    }

    [StoreFact]
    public async Task MarkLaunchedAsync_ReturnsFalseButKeepsPaths_WhenCancelledMeanwhile()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        await Jobs.CancelAsync(id, T0, "x", Ct);

        var launched = await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct);

        Assert.False(launched);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal("/home/alice/slurm-1.out", job.StdoutPath);
        Assert.Equal(4242, job.ProcessId);
    }

    [StoreFact]
    public async Task MarkLaunchedAsync_ReturnsFalseAndChangesNothing_WhenAttemptIsWrong()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        var launched = await Agent.MarkLaunchedAsync(id, 2, Launch(), Ct);

        Assert.False(launched);
        Assert.Null((await GetAsync(id)).ProcessId);
        Assert.Single(await Agent.GetDispatchesAsync(Node1, Ct));
    }

    [StoreFact]
    public async Task FinishAsync_SetsStateAndReleasesAllocation_WhenRunning()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec(cpus: 2));
        await StartAsync(id, Node1, [0, 1]);
        await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct);

        var outcome = await Agent.FinishAsync(
            new JobCompletion(id, 1, JobState.Failed, ExitCode.Exited(3), "exit status 3", T0.AddMinutes(5), 12.5, 2048), Ct);

        Assert.Equal(FinishOutcome.Finished, outcome);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(ExitCode.Exited(3), job.ExitCode);
        Assert.Equal("exit status 3", job.ErrorMessage);
        Assert.Equal(T0.AddMinutes(5), job.EndTime);
        Assert.Equal(12.5, job.CpuSeconds);
        Assert.Equal(2048, job.MaxRssKiB);
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Equal(0, (await NodeAsync(Node1)).AllocatedCpus);
        var evt = (await Jobs.GetEventsAsync(id, Ct))[^1];
        Assert.Equal(JobEventKind.Finished, evt.Kind);
        Assert.StartsWith("state=FAILED exit=3:0", evt.Detail, StringComparison.Ordinal);
    }

    [StoreFact]
    public async Task FinishAsync_ReturnsStaleAndChangesNothing_WhenAttemptIsOld()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        var eventsBefore = (await Jobs.GetEventsAsync(id, Ct)).Count;

        var outcome = await Agent.FinishAsync(new JobCompletion(id, 0, JobState.Completed, ExitCode.Success, null, T0), Ct);

        Assert.Equal(FinishOutcome.Stale, outcome);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Running, job.State);
        Assert.Null(job.ExitCode);
        Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Equal(eventsBefore, (await Jobs.GetEventsAsync(id, Ct)).Count);
    }

    [StoreFact]
    public async Task FinishAsync_ReturnsStale_WhenJobIsMissing()
    {
        var outcome = await Agent.FinishAsync(new JobCompletion(new JobId(5), 1, JobState.Completed, ExitCode.Success, null, T0), Ct);

        Assert.Equal(FinishOutcome.Stale, outcome);
    }

    [StoreFact]
    public async Task FinishAsync_ReturnsStale_WhenReportedStateIsNotAnEnd()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        var outcome = await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Running, ExitCode.Success, null, T0), Ct);

        Assert.Equal(FinishOutcome.Stale, outcome);
        Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct));
    }

    [StoreFact]
    public async Task FinishAsync_KeepsCancelledButRecordsExitAndReleases_WhenUserCancelledWhileRunning()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct);
        await Jobs.CancelAsync(id, T0.AddMinutes(1), "by alice", Ct);

        var outcome = await Agent.FinishAsync(
            new JobCompletion(id, 1, JobState.Cancelled, ExitCode.Killed(15), null, T0.AddMinutes(2), 1.5, 100), Ct);
        var repeated = await Agent.FinishAsync(
            new JobCompletion(id, 1, JobState.Cancelled, ExitCode.Killed(9), null, T0.AddMinutes(3)), Ct);

        Assert.Equal(FinishOutcome.AlreadyEnded, outcome);
        Assert.Equal(FinishOutcome.AlreadyEnded, repeated);
        var job = await GetAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal(ExitCode.Killed(15), job.ExitCode);
        Assert.Equal(T0.AddMinutes(1), job.EndTime);
        Assert.Equal(1.5, job.CpuSeconds);
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Equal(0, (await NodeAsync(Node1)).AllocatedCpus);
        Assert.Single(await Jobs.GetEventsAsync(id, Ct), e => e.Kind == JobEventKind.Finished);
    }

    [StoreFact]
    public async Task FinishAsync_ReturnsAlreadyEndedWithoutNewEvent_WhenReportedTwice()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        var completion = new JobCompletion(id, 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(1));

        var first = await Agent.FinishAsync(completion, Ct);
        var second = await Agent.FinishAsync(completion, Ct);

        Assert.Equal(FinishOutcome.Finished, first);
        Assert.Equal(FinishOutcome.AlreadyEnded, second);
        Assert.Equal(JobState.Completed, (await GetAsync(id)).State);
        Assert.Single(await Jobs.GetEventsAsync(id, Ct), e => e.Kind == JobEventKind.Finished);
    }

    [StoreFact]
    public async Task FinishAsync_RequeuesJobAndReleasesAllocation_WhenReportedPending()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var id = await SubmitAsync(Spec() with { Requeue = true });
        await StartAsync(id, Node1, [0]);
        await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct);

        var outcome = await Agent.FinishAsync(
            new JobCompletion(id, 1, JobState.Pending, ExitCode.Killed(9), "node lost", T0.AddMinutes(1)), Ct);
        var requeued = await GetAsync(id);
        var restarted = await Scheduler.CommitAsync(new SchedulingPlan([new JobStart(id, Node2, [3], 0)], []), T0.AddMinutes(2), Ct);
        var stale = await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(3)), Ct);

        Assert.Equal(FinishOutcome.Finished, outcome);
        Assert.Equal(JobState.Pending, requeued.State);
        Assert.Null(requeued.Node);
        Assert.Null(requeued.ProcessId);
        Assert.Equal(1, requeued.Attempt);
        Assert.Contains(await Jobs.GetEventsAsync(id, Ct), e => e.Kind == JobEventKind.Requeued);
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Single(restarted);
        Assert.Equal(FinishOutcome.Stale, stale);
        var job = await GetAsync(id);
        Assert.Equal((JobState.Running, 2, Node2), (job.State, job.Attempt, job.Node));
        Assert.Null(job.ExitCode);
        Assert.Single(await Agent.GetDispatchesAsync(Node2, Ct));
    }

    [StoreFact]
    public async Task AppendEventAsync_DoesNothing_WhenJobIsMissing()
    {
        await Agent.AppendEventAsync(new JobId(404), JobEventKind.Warning, "orphan", T0, Ct);

        Assert.Empty(await Jobs.GetEventsAsync(new JobId(404), Ct));
    }

    [StoreFact]
    public async Task RecordUsageAsync_KeepsMaximumRss_WhenReportedRepeatedly()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        await Agent.RecordUsageAsync(id, 1, 1.0, 5000, Ct);
        await Agent.RecordUsageAsync(id, 1, 2.0, 3000, Ct);
        await Agent.RecordUsageAsync(id, 7, 99.0, 99999, Ct);

        var job = await GetAsync(id);
        Assert.Equal(2.0, job.CpuSeconds);
        Assert.Equal(5000, job.MaxRssKiB);
    }

    // ---- concurrency ----

    [StoreFact]
    public async Task ConcurrentSubmitAndCommit_StartsEachJobOnceWithoutBusyErrors_WhenEightWritersRace()
    {
        const int Writers = 8;
        const int JobsPerWriter = 50;
        await RegisterAsync(Node1, cpus: 10_000);
        using var gate = new SemaphoreSlim(0, Writers);

        async Task<int> WriterAsync(int writer)
        {
            await gate.WaitAsync();
            var won = 0;
            for (var i = 0; i < JobsPerWriter; i++)
            {
                await SubmitAsync(Spec(name: $"w{writer}-{i}"));
                if (i % 10 == 9)
                {
                    // Every writer tries to start every even pending job it sees: the plans overlap on purpose.
                    var snapshot = await Scheduler.LoadSnapshotAsync(Ct);
                    var starts = snapshot.Pending.Where(p => p.Id.Value % 2 == 0)
                        .Select(p => new JobStart(p.Id, Node1, [(int)(p.Id.Value % 10_000)], 1)).ToList();
                    var reasons = snapshot.Pending.Where(p => p.Id.Value % 2 == 1)
                        .Select(p => new ReasonChange(p.Id, PendingReasons.Priority)).ToList();
                    won += (await Scheduler.CommitAsync(new SchedulingPlan(starts, reasons), T0, Ct)).Count;
                }
            }

            return won;
        }

        var tasks = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriterAsync(w))).ToArray();
        gate.Release(Writers);
        var wins = await Task.WhenAll(tasks);

        const int Total = Writers * JobsPerWriter;
        var counts = await Jobs.CountByStateAsync(Ct);
        Assert.Equal(Total, counts.Total);
        Assert.Equal(Total / 2, wins.Sum());
        Assert.Equal(Total / 2, counts[JobState.Running]);
        Assert.Equal(Total / 2, counts[JobState.Pending]);
        var node = await NodeAsync(Node1);
        Assert.Equal(Total / 2, node.RunningJobs);
        Assert.Equal(Total / 2, node.AllocatedCpus);
        var all = await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct);
        Assert.Equal(Enumerable.Range(1, Total).Select(i => (long)i), all.Select(j => j.Id.Value));
        Assert.All(all.Where(j => j.State == JobState.Running), j => Assert.Equal(1, j.Attempt));
    }
}
