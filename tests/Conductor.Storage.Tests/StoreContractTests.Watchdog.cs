using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>The contract of the node watchdog's write and of the heartbeat that tells an agent its node's state.</summary>
public abstract partial class StoreContractTests
{
    [StoreFact]
    public async Task HeartbeatAsync_ReturnsUp_WhenNodeIsRegistered()
    {
        await RegisterAsync(Node1);

        Assert.Equal(NodeState.Up, await Nodes.HeartbeatAsync(Node1, T0.AddSeconds(5), Ct));
    }

    [StoreFact]
    public async Task HeartbeatAsync_ReturnsNull_WhenNodeIsUnknown()
    {
        Assert.Null(await Nodes.HeartbeatAsync(Node1, T0, Ct));
    }

    [StoreFact]
    public async Task MarkNodesDownAsync_MarksOnlySilentNodes_WhenOthersHeartbeat()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        await Nodes.HeartbeatAsync(Node2, T0.AddSeconds(50), Ct);

        var downed = await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct);

        var down = Assert.Single(downed);
        Assert.Equal(Node1, down.Node);
        Assert.Equal(T0, down.LastHeartbeat);
        var node1 = await NodeAsync(Node1);
        Assert.Equal(NodeState.Down, node1.State);
        Assert.Contains("stopped responding", node1.StateReason, StringComparison.Ordinal);
        Assert.Equal(NodeState.Up, (await NodeAsync(Node2)).State);
        Assert.Empty(await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(61), Ct));
    }

    [StoreFact]
    public async Task MarkNodesDownAsync_RequeuesOrFailsRunningJobs_WhenTheirNodeGoesDown()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var requeue = await SubmitAsync(Spec(name: "requeue") with { Requeue = true });
        var plain = await SubmitAsync(Spec(name: "plain"));
        var elsewhere = await SubmitAsync(Spec(name: "elsewhere"));
        await StartAsync(requeue, Node1, [0]);
        await StartAsync(plain, Node1, [1]);
        await StartAsync(elsewhere, Node2, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(requeue, 1, Launch(), Ct));
        await Nodes.HeartbeatAsync(Node2, T0.AddSeconds(50), Ct);

        var downed = await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct);

        var down = Assert.Single(downed);
        Assert.Equal([requeue], down.Requeued);
        Assert.Equal([plain], down.Failed);

        var requeued = await GetAsync(requeue);
        Assert.Equal(JobState.Pending, requeued.State);
        Assert.Null(requeued.Node);
        Assert.Null(requeued.ProcessId);
        Assert.Equal(1, requeued.Attempt);
        Assert.Contains("node node1 stopped responding", requeued.ErrorMessage, StringComparison.Ordinal);

        var failed = await GetAsync(plain);
        Assert.Equal(JobState.NodeFail, failed.State);
        Assert.Equal(ExitCode.Success, failed.ExitCode);
        Assert.Equal(T0.AddSeconds(60), failed.EndTime);
        Assert.Contains("node node1 stopped responding", failed.ErrorMessage, StringComparison.Ordinal);

        Assert.Equal(JobState.Running, (await GetAsync(elsewhere)).State);
        Assert.Equal(0, (await NodeAsync(Node1)).AllocatedCpus);
        Assert.Equal(1, (await NodeAsync(Node2)).AllocatedCpus);
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
        Assert.Contains(await Jobs.GetEventsAsync(requeue, Ct), e => e.Kind == JobEventKind.Requeued);

        // The node's agent, back from the dead, is told so and its late reports change nothing.
        Assert.Equal(NodeState.Down, await Nodes.HeartbeatAsync(Node1, T0.AddSeconds(70), Ct));
        Assert.Equal(FinishOutcome.Stale, await Agent.FinishAsync(
            new JobCompletion(requeue, 1, JobState.Cancelled, ExitCode.Killed(15), "fenced", T0.AddSeconds(71)), Ct));
        Assert.Equal(JobState.Pending, (await GetAsync(requeue)).State);
        Assert.Equal(FinishOutcome.AlreadyEnded, await Agent.FinishAsync(
            new JobCompletion(plain, 1, JobState.Cancelled, ExitCode.Killed(15), "fenced", T0.AddSeconds(71)), Ct));
        Assert.Equal(JobState.NodeFail, (await GetAsync(plain)).State);
    }

    [StoreFact]
    public async Task RegisterAsync_BringsNodeBackUp_WhenItWasMarkedDown()
    {
        await RegisterAsync(Node1);
        await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct);

        await Nodes.RegisterAsync(new NodeRegistration(Node1, 8, 16384, ["batch"]), T0.AddSeconds(90), Ct);

        var node = await NodeAsync(Node1);
        Assert.Equal(NodeState.Up, node.State);
        Assert.Null(node.StateReason);
        Assert.Equal(NodeState.Up, await Nodes.HeartbeatAsync(Node1, T0.AddSeconds(91), Ct));
    }

    [StoreFact]
    public async Task RequeuedJob_StartsAgainWithNextAttempt_WhenNodeWentDown()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var id = await SubmitAsync(Spec() with { Requeue = true });
        await StartAsync(id, Node1, [0]);
        await Nodes.HeartbeatAsync(Node2, T0.AddSeconds(50), Ct);
        await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct);

        await StartAsync(id, Node2, [0], now: T0.AddSeconds(61));

        var job = await GetAsync(id);
        Assert.Equal(JobState.Running, job.State);
        Assert.Equal(2, job.Attempt);
        Assert.Equal(Node2, job.Node);
    }

    [StoreFact]
    public async Task CommitAsync_SkipsStart_WhenItsNodeWasDeclaredDownAfterTheSnapshot()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var id = await SubmitAsync();
        var other = await SubmitAsync();
        await Nodes.HeartbeatAsync(Node2, T0.AddSeconds(50), Ct);
        await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct);

        var won = await Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(id, Node1, [0], 0), new JobStart(other, Node2, [0], 0)], []), T0.AddSeconds(61), Ct);

        Assert.Equal([other], won.Select(s => s.JobId));
        Assert.Equal(JobState.Pending, (await GetAsync(id)).State);
        Assert.Equal(0, (await NodeAsync(Node1)).AllocatedCpus);
        Assert.Equal(JobState.Running, (await GetAsync(other)).State);
    }

    [StoreFact]
    public async Task CommitAsync_NeitherStartsNorRelabelsAJobHeldAfterTheSnapshot_NorKeepsAHoldReasonOnAReleasedOne()
    {
        await RegisterAsync(Node1);
        var held = await SubmitAsync();
        var released = await SubmitAsync(Spec() with { Hold = true });
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(held, HoldAction.HoldAdmin, true, T0, "held by root", Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(released, HoldAction.Release, true, T0, "released by root", Ct));

        // A plan made before both: it starts the first job, and gives the second a hold's reason.
        var won = await Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(held, Node1, [0], 0)], [new ReasonChange(held, "Priority"), new ReasonChange(released, "JobHeldUser")]),
            T0.AddSeconds(1), Ct);

        Assert.Empty(won);
        Assert.Equal((JobState.Pending, "JobHeldAdmin"), ((await GetAsync(held)).State, (await GetAsync(held)).Reason));
        Assert.Equal(0, (await NodeAsync(Node1)).AllocatedCpus);
        Assert.NotEqual("JobHeldUser", (await GetAsync(released)).Reason);
    }

    [StoreFact]
    public async Task Requeue_LeavesTheSameJob_WhetherTheAgentOrTheNodeWatchdogPutItBack()
    {
        await RegisterAsync(Node1);
        var byAgent = await SubmitAsync(Spec(name: "agent") with { Requeue = true });
        var byWatchdog = await SubmitAsync(Spec(name: "watchdog") with { Requeue = true });
        await StartAsync(byAgent, Node1, [0]);
        await StartAsync(byWatchdog, Node1, [1]);
        foreach (var id in new[] { byAgent, byWatchdog })
        {
            Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));
            await Agent.RecordUsageAsync(id, 1, 2.5, 4096, Ct);
        }

        var now = T0.AddSeconds(60);
        var lost = JobTransitions.Lost(JobState.Failed, "the job's processes were gone", requeue: true, attempt: 1);
        Assert.Equal(FinishOutcome.Finished, await Agent.FinishAsync(
            new JobCompletion(byAgent, 1, lost.State, ExitCode.Killed(9), lost.Error, now, 2.5, 4096), Ct));
        var down = Assert.Single(await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), now, Ct));

        Assert.Equal([byWatchdog], down.Requeued);
        var (agentJob, watchdogJob) = (await GetAsync(byAgent), await GetAsync(byWatchdog));
        Assert.Equal(Shape(agentJob), Shape(watchdogJob));
        Assert.Equal([JobState.Pending, 1, null, now, 2.5, 4096L], Shape(agentJob)[..6]);
        Assert.All(Shape(agentJob)[6..], Assert.Null);
        Assert.EndsWith("; requeued as the job asked", agentJob.ErrorMessage, StringComparison.Ordinal);
        Assert.EndsWith("; requeued as the job asked", watchdogJob.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(JobEventKind.Requeued, (await Jobs.GetEventsAsync(byAgent, Ct))[^1].Kind);
        Assert.Equal(JobEventKind.Requeued, (await Jobs.GetEventsAsync(byWatchdog, Ct))[^1].Kind);
        Assert.Equal(0, (await NodeAsync(Node1)).RunningJobs);

        // Every column "back to PENDING" governs, in a fixed order: what is kept first, then what is cleared.
        static object?[] Shape(JobRecord job) =>
        [
            job.State, job.Attempt, job.Reason, job.EligibleTime, job.CpuSeconds, job.MaxRssKiB,
            job.Node?.Value, job.Cores.Count == 0 ? null : job.Cores, job.StartTime, job.EndTime, job.ExitCode,
            job.ProcessId, job.ProcessStartTicks,
        ];
    }

    [StoreFact]
    public async Task MarkNodesDownAsync_EndsARequeueJobNodeFail_WhenItWasRestartedTooOften()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec() with { Requeue = true });
        for (var attempt = 1; attempt <= JobTransitions.MaxRequeues; attempt++)
        {
            await StartAsync(id, Node1, [0]);
            Assert.Equal(FinishOutcome.Finished, await Agent.FinishAsync(
                new JobCompletion(id, attempt, JobState.Pending, ExitCode.Killed(9), "lost", T0.AddSeconds(attempt)), Ct));
        }

        await StartAsync(id, Node1, [0]);
        var down = Assert.Single(await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct));

        Assert.Equal([id], down.Failed);
        var job = await GetAsync(id);
        Assert.Equal((JobState.NodeFail, JobTransitions.MaxRequeues + 1), (job.State, job.Attempt));
        Assert.Contains("not requeued again", job.ErrorMessage, StringComparison.Ordinal);
    }
}
