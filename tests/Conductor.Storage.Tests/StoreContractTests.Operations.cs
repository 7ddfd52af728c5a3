using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>The contract of what follows a submission: updates, signals, requeues, and draining a node.</summary>
public abstract partial class StoreContractTests
{
    [StoreFact]
    public async Task UpdateAsync_WritesTheChangedFieldsOfAPendingJob_WithAnEvent()
    {
        var id = await SubmitAsync();
        var changes = new JobChanges(JobState.Pending, 0)
        {
            Name = "renamed",
            CpusPerTask = 2,
            MemoryMiB = 512,
            Nice = 5,
            TimeLimit = new Change<TimeSpan?>(TimeSpan.FromMinutes(7)),
            Begin = new Change<DateTimeOffset?>(T0.AddHours(1)),
        };

        Assert.Equal(UpdateOutcome.Updated, await Jobs.UpdateAsync(id, changes, T0.AddSeconds(1), "updated name by alice", Ct));

        var job = await GetAsync(id);
        Assert.Equal(("renamed", 2, 512L, 5, -5), (job.Spec.Name, job.Spec.CpusPerTask, job.Spec.MemoryMiB, job.Spec.Nice, job.Spec.Priority));
        Assert.Equal(TimeSpan.FromMinutes(7), job.Spec.TimeLimit);
        Assert.Equal(T0.AddHours(1), job.Spec.Begin);
        Assert.Equal("batch", job.Spec.Partition);
        var snapshot = await Scheduler.LoadSnapshotAsync(Ct);
        Assert.Equal(2, Assert.Single(snapshot.Pending).Cpus);
        Assert.Contains(await Jobs.GetEventsAsync(id, Ct), e => e.Kind == JobEventKind.Updated && e.Detail == "updated name by alice");
    }

    [StoreFact]
    public async Task UpdateAsync_ChangesNothing_WhenTheJobStartedSinceItWasRead()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        var outcome = await Jobs.UpdateAsync(id, new JobChanges(JobState.Pending, 0) { Name = "late" }, T0, "late", Ct);

        Assert.Equal(UpdateOutcome.StateChanged, outcome);
        Assert.Equal("job", (await GetAsync(id)).Spec.Name);
        Assert.Equal(UpdateOutcome.NotFound, await Jobs.UpdateAsync(new JobId(999), new JobChanges(JobState.Pending, 0) { Name = "x" }, T0, "x", Ct));
    }

    [StoreFact]
    public async Task UpdateAsync_ChangesARunningJobsTimeLimit_AndItsAgentSeesIt()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec() with { TimeLimit = TimeSpan.FromHours(1) });
        await StartAsync(id, Node1, [0]);

        var changes = new JobChanges(JobState.Running, 1) { TimeLimit = new Change<TimeSpan?>(TimeSpan.FromMinutes(1)) };
        Assert.Equal(UpdateOutcome.Updated, await Jobs.UpdateAsync(id, changes, T0.AddSeconds(5), "lowered", Ct));

        Assert.Equal(TimeSpan.FromMinutes(1), Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct)).TimeLimit);
        Assert.Equal(TimeSpan.FromMinutes(1), (await GetAsync(id)).Spec.TimeLimit);
    }

    [StoreFact]
    public async Task SignalAsync_QueuesASignalForARunningJob_ThatItsAgentTakesOnce_OnceLaunched()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var running = await SubmitAsync();
        var pending = await SubmitAsync();
        await StartAsync(running, Node1, [0]);

        var result = await Jobs.SignalAsync(running, new SignalRequest(10, false, "alice", T0.AddSeconds(3)), Ct);
        await Jobs.SignalAsync(running, new SignalRequest(12, true, "root", T0.AddSeconds(4)), Ct);

        Assert.Equal((SignalOutcome.Queued, (Core.Nodes.NodeName?)Node1), (result.Outcome, result.Node));
        Assert.Equal(SignalOutcome.NotRunning, (await Jobs.SignalAsync(pending, new SignalRequest(10, false, "alice", T0), Ct)).Outcome);
        Assert.Empty(await Agent.TakeSignalsAsync(Node2, Ct));

        // A signal asked before the job's process started waits for it, instead of reaching an agent with nothing to signal.
        Assert.Empty(await Agent.TakeSignalsAsync(Node1, Ct));
        Assert.True(await Agent.MarkLaunchedAsync(running, 1, Launch(), Ct));
        var taken = await Agent.TakeSignalsAsync(Node1, Ct);
        Assert.Equal(
            [new PendingSignal(running, 1, 10, false, "alice", T0.AddSeconds(3)), new PendingSignal(running, 1, 12, true, "root", T0.AddSeconds(4))],
            taken);
        Assert.Empty(await Agent.TakeSignalsAsync(Node1, Ct));
    }

    [StoreFact]
    public async Task RequeueAsync_PutsAnEndedJobBackInTheQueue_AsItsNextAttempt()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));
        await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Completed, ExitCode.Success, null, T0.AddSeconds(9)), Ct);

        var result = await Jobs.RequeueAsync(id, T0.AddSeconds(10), "requeued by alice", hold: false, Ct);

        Assert.Equal(RequeueOutcome.Requeued, result.Outcome);
        var job = await GetAsync(id);
        Assert.Equal((JobState.Pending, 1, (ExitCode?)null, (DateTimeOffset?)null), (job.State, job.Attempt, job.ExitCode, job.EndTime));
        Assert.Contains(await Jobs.GetEventsAsync(id, Ct), e => e.Kind == JobEventKind.Requeued && e.Detail!.Contains("COMPLETED", StringComparison.Ordinal));
        await StartAsync(id, Node1, [0]);
        Assert.Equal(2, (await GetAsync(id)).Attempt);
        Assert.Equal(RequeueOutcome.Pending, (await Jobs.RequeueAsync(await SubmitAsync(), T0, "x", hold: false, Ct)).Outcome);
    }

    [StoreFact]
    public async Task RequeueAsync_WithHold_PutsEndedAndRunningJobsBackHeld_UntilReleased()
    {
        await RegisterAsync(Node1);
        var ended = await SubmitAsync();
        await StartAsync(ended, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(ended, 1, Launch(), Ct));
        await Agent.FinishAsync(new JobCompletion(ended, 1, JobState.Completed, ExitCode.Success, null, T0.AddSeconds(9)), Ct);
        var running = await SubmitAsync();
        await StartAsync(running, Node1, [1]);
        Assert.True(await Agent.MarkLaunchedAsync(running, 1, Launch(), Ct));

        Assert.Equal(RequeueOutcome.Requeued, (await Jobs.RequeueAsync(ended, T0.AddSeconds(10), "requeued by alice", hold: true, Ct)).Outcome);
        Assert.Equal(RequeueOutcome.Requested, (await Jobs.RequeueAsync(running, T0.AddSeconds(10), "requeued by alice", hold: true, Ct)).Outcome);
        await Agent.FinishAsync(new JobCompletion(running, 1, JobState.Pending, ExitCode.Killed(15), "requeue asked", T0.AddSeconds(11)), Ct);

        foreach (var id in new[] { ended, running })
        {
            var job = await GetAsync(id);
            Assert.Equal((JobState.Pending, true, PendingReasons.RequeuedHeld), (job.State, job.Spec.Hold, job.Reason));
        }

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(running, HoldAction.Release, asAdmin: false, T0.AddSeconds(12), "released by alice", Ct));
        var released = await GetAsync(running);
        Assert.Equal((false, (string?)null), (released.Spec.Hold, released.Reason));
    }

    [StoreFact]
    public async Task SetHoldAsync_HoldsARunningJobWithoutStoppingIt_AndARequeueBringsItBackHeld()
    {
        await RegisterAsync(Node1);
        var launched = await SubmitAsync();
        await StartAsync(launched, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(launched, 1, Launch(), Ct));
        var placed = await SubmitAsync();
        await StartAsync(placed, Node1, [1]);
        var admins = await SubmitAsync();
        await StartAsync(admins, Node1, [2]);
        Assert.True(await Agent.MarkLaunchedAsync(admins, 1, Launch(), Ct));

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(launched, HoldAction.HoldUser, false, T0.AddSeconds(5), "held by alice", Ct));
        Assert.Equal(HoldOutcome.Unchanged, await Jobs.SetHoldAsync(launched, HoldAction.HoldUser, false, T0.AddSeconds(5), "held by alice", Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(placed, HoldAction.HoldUser, false, T0.AddSeconds(5), "held by alice", Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(admins, HoldAction.HoldAdmin, true, T0.AddSeconds(5), "held by root", Ct));
        Assert.Equal(HoldOutcome.Forbidden, await Jobs.SetHoldAsync(admins, HoldAction.Release, false, T0.AddSeconds(5), "released by alice", Ct));
        foreach (var id in new[] { launched, placed, admins })
        {
            var job = await GetAsync(id);
            Assert.Equal((JobState.Running, true, (string?)null, 1), (job.State, job.Spec.Hold, job.Reason, job.Attempt));
            Assert.Equal(JobEventKind.Held, (await Jobs.GetEventsAsync(id, Ct))[^1].Kind);
        }

        Assert.Empty((await Scheduler.LoadSnapshotAsync(Ct)).Pending);
        Assert.Single(await Agent.GetDispatchesAsync(Node1, Ct), d => d.Job.Id == placed);

        // A plain requeue: the running ones through their agent's report, the one never launched at once.
        Assert.Equal(RequeueOutcome.Requested, (await Jobs.RequeueAsync(launched, T0.AddSeconds(10), "requeued by alice", hold: false, Ct)).Outcome);
        Assert.Equal(RequeueOutcome.Requested, (await Jobs.RequeueAsync(admins, T0.AddSeconds(10), "requeued by root", hold: false, Ct)).Outcome);
        Assert.Equal(RequeueOutcome.Requeued, (await Jobs.RequeueAsync(placed, T0.AddSeconds(10), "requeued by alice", hold: false, Ct)).Outcome);
        await Agent.FinishAsync(new JobCompletion(launched, 1, JobState.Pending, ExitCode.Killed(15), "requeue asked", T0.AddSeconds(11)), Ct);
        await Agent.FinishAsync(new JobCompletion(admins, 1, JobState.Pending, ExitCode.Killed(15), "requeue asked", T0.AddSeconds(11)), Ct);

        Assert.Equal((JobState.Pending, true, PendingReasons.RequeuedHeld), State(await GetAsync(launched)));
        Assert.Equal((JobState.Pending, true, PendingReasons.RequeuedHeld), State(await GetAsync(placed)));
        Assert.Equal((JobState.Pending, true, PendingReasons.JobHeldAdmin), State(await GetAsync(admins)));
        Assert.All((await Scheduler.LoadSnapshotAsync(Ct)).Pending, p => Assert.True(p.Held));
        Assert.Equal(HoldOutcome.Forbidden, await Jobs.SetHoldAsync(admins, HoldAction.Release, false, T0.AddSeconds(12), "released by alice", Ct));

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(launched, HoldAction.Release, false, T0.AddSeconds(12), "released by alice", Ct));
        Assert.Equal((JobState.Pending, false, (string?)null), State(await GetAsync(launched)));

        static (JobState, bool, string?) State(JobRecord job) => (job.State, job.Spec.Hold, job.Reason);
    }

    [StoreFact]
    public async Task SetHoldAsync_ReleasesARunningJob_SoThatARequeueBringsItBackFree()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.HoldUser, false, T0.AddSeconds(5), "held by alice", Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.Release, false, T0.AddSeconds(6), "released by alice", Ct));

        Assert.Equal(RequeueOutcome.Requested, (await Jobs.RequeueAsync(id, T0.AddSeconds(10), "requeued by alice", hold: false, Ct)).Outcome);
        await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Pending, ExitCode.Killed(15), "requeue asked", T0.AddSeconds(11)), Ct);
        var job = await GetAsync(id);
        Assert.Equal((JobState.Pending, false, (string?)null), (job.State, job.Spec.Hold, job.Reason));
        Assert.False(Assert.Single((await Scheduler.LoadSnapshotAsync(Ct)).Pending).Held);
    }

    [StoreFact]
    public async Task RequeueAsync_AsksTheAgentToStopARunningJob_ThenItsReportPutsItBack()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));

        var result = await Jobs.RequeueAsync(id, T0.AddSeconds(5), "requeued by alice", hold: false, Ct);

        Assert.Equal((RequeueOutcome.Requested, (Core.Nodes.NodeName?)Node1), (result.Outcome, result.Node));
        Assert.True(Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct)).RequeueRequested);
        Assert.Equal(FinishOutcome.Finished,
            await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Pending, ExitCode.Killed(15), "requeue asked", T0.AddSeconds(6)), Ct));
        Assert.Equal(JobState.Pending, (await GetAsync(id)).State);
        Assert.Empty(await Agent.GetNodeJobsAsync(Node1, Ct));
        await StartAsync(id, Node1, [0]);
        Assert.False(Assert.Single(await Agent.GetNodeJobsAsync(Node1, Ct)).RequeueRequested);
    }

    [StoreFact]
    public async Task RequeueAsync_Waits_WhileACancelledJobsProcessesAreStillBeingStopped()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));
        await Jobs.CancelAsync(id, T0.AddSeconds(3), "cancelled", Ct);

        Assert.Equal(RequeueOutcome.StillEnding, (await Jobs.RequeueAsync(id, T0.AddSeconds(4), "x", hold: false, Ct)).Outcome);

        await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Cancelled, ExitCode.Killed(15), null, T0.AddSeconds(5)), Ct);
        Assert.Equal(RequeueOutcome.Requeued, (await Jobs.RequeueAsync(id, T0.AddSeconds(6), "x", hold: false, Ct)).Outcome);
    }

    [StoreFact]
    public async Task SetDrainAsync_KeepsNewWorkOffTheNode_AcrossItsAgentsRestart_UntilResumed()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();

        Assert.True(await Nodes.SetDrainAsync(Node1, new NodeDrain("disk swap", "root", T0.AddSeconds(1)), Ct));
        await RegisterAsync(Node1);

        var node = await NodeAsync(Node1);
        Assert.Equal(("disk swap", "root", (DateTimeOffset?)T0.AddSeconds(1)), (node.DrainReason, node.DrainedBy, node.DrainTime));
        Assert.True(Assert.Single((await Scheduler.LoadSnapshotAsync(Ct)).Nodes).Drained);
        Assert.Empty(await Scheduler.CommitAsync(new SchedulingPlan([new JobStart(id, Node1, [0], 0)], []), T0.AddSeconds(2), Ct));
        Assert.False(await Nodes.SetDrainAsync(Node2, new NodeDrain("x", "root", T0), Ct));

        Assert.True(await Nodes.SetDrainAsync(Node1, null, Ct));
        Assert.False((await NodeAsync(Node1)).Drained);
        await StartAsync(id, Node1, [0]);
    }
}
