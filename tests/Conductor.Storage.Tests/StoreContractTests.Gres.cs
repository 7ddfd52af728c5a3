using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>Generic resources, backfill reservations and fair-share usage, on every backend.</summary>
public abstract partial class StoreContractTests
{
    [StoreFact]
    public async Task Gres_RoundTripsThroughSubmitSnapshotStartAndNodeList()
    {
        await Nodes.RegisterAsync(new NodeRegistration(Node1, 8, 16384, ["batch"], Gres: GresList.Parse("gpu:a100:2,gpu:t4:2")), T0, Ct);
        var id = await SubmitAsync(Spec() with { Gres = GresList.Parse("gpu:a100:1,gpu:1") });

        Assert.Equal("gpu:a100:1,gpu:1", (await GetAsync(id)).Spec.Gres.ToString());
        var snapshot = await Scheduler.LoadSnapshotAsync(Ct);
        Assert.Equal("gpu:a100:1,gpu:1", snapshot.Pending.Single().GresRequest.ToString());
        Assert.Equal("gpu:a100:2,gpu:t4:2", snapshot.Nodes.Single().GresTotal.ToString());

        var won = await Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(id, Node1, [0], 0, [new GresDevice("gpu", 0), new GresDevice("gpu", 2)])], []), T0.AddSeconds(1), Ct);
        Assert.Single(won);

        var job = await GetAsync(id);
        Assert.Equal([new GresDevice("gpu", 0), new GresDevice("gpu", 2)], job.Devices);
        var node = await NodeAsync(Node1);
        Assert.Equal("gpu:a100:2,gpu:t4:2", node.Gres.ToString());
        Assert.Equal(2, node.AllocatedDevices.Count);
        var allocation = (await Scheduler.LoadSnapshotAsync(Ct)).Nodes.Single().Allocations.Single();
        Assert.Equal([new GresDevice("gpu", 0), new GresDevice("gpu", 2)], allocation.GresDevices);
        Assert.Equal("alice", allocation.Account);
        Assert.Equal(T0.AddSeconds(1), allocation.Start);
        Assert.Contains((await Jobs.GetEventsAsync(id, Ct)), e => e.Kind == JobEventKind.Scheduled && e.Detail!.Contains("gres=gpu:0,gpu:2", StringComparison.Ordinal));
    }

    [StoreFact]
    public async Task GpuRequestForm_IsKeptBySubmitSubmitManyAndArrayTasks_AndDroppedByAGresUpdate()
    {
        await RegisterAsync(Node1, cpus: 8);
        var perJob = await SubmitAsync(Spec() with { Gres = GresList.Parse("gpu:2"), GpusPerJob = 2 });
        var many = await Jobs.SubmitManyAsync(
        [
            new NewJob(Spec("per task") with { Ntasks = 2, Gres = GresList.Parse("gpu:2"), GpusPerTask = 1 }, "#!/bin/sh\ntrue\n", T0),
            new NewJob(Spec("plain"), "#!/bin/sh\ntrue\n", T0),
        ], Ct);
        var array = await SubmitAsync(Spec("array") with { Array = JobArraySpec.Parse("1-2"), Gres = GresList.Parse("gpu:1"), GpusPerJob = 1 });

        Assert.Equal((2, (int?)null, "gpu:2"), Form(await GetAsync(perJob)));
        Assert.Equal(((int?)null, 1, "gpu:2"), Form(await GetAsync(many[0])));
        Assert.Equal(((int?)null, (int?)null, ""), Form(await GetAsync(many[1])));
        Assert.Equal(2, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var tasks = (await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct)).Where(j => j.ArrayJobId == array).ToList();
        Assert.Equal(2, tasks.Count);
        Assert.All(tasks, t => Assert.Equal((1, (int?)null, "gpu:1"), Form(t)));

        // A new list is asked per node, whatever asked the old one.
        Assert.Equal(UpdateOutcome.Updated,
            await Jobs.UpdateAsync(perJob, new JobChanges(JobState.Pending, 0) { Gres = GresList.Parse("gpu:3") }, T0, "updated", Ct));
        Assert.Equal(((int?)null, (int?)null, "gpu:3"), Form(await GetAsync(perJob)));

        static (int?, int?, string) Form(JobRecord job) => (job.Spec.GpusPerJob, job.Spec.GpusPerTask, job.Spec.Gres.ToString());
    }

    [StoreFact]
    public async Task Gres_IsNone_WhenNothingWasAskedOrDeclared()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        var job = await GetAsync(id);
        Assert.True(job.Spec.Gres.IsEmpty);
        Assert.Empty(job.Devices);
        Assert.True((await NodeAsync(Node1)).Gres.IsEmpty);
        Assert.Empty((await NodeAsync(Node1)).AllocatedDevices);
    }

    [StoreFact]
    public async Task CommitAsync_ReplacesExpectedStarts_OnlyWhenThePlanCarriesThem()
    {
        await RegisterAsync(Node1);
        var a = await SubmitAsync();
        var b = await SubmitAsync();

        await Scheduler.CommitAsync(new SchedulingPlan([], [], [new ExpectedStart(a, T0.AddMinutes(5), Node1)]), T0, Ct);
        Assert.Equal(T0.AddMinutes(5), (await GetAsync(a)).ExpectedStart);

        await Scheduler.CommitAsync(new SchedulingPlan([], [new ReasonChange(a, PendingReasons.Resources)]), T0, Ct);
        Assert.Equal(T0.AddMinutes(5), (await GetAsync(a)).ExpectedStart);

        await Scheduler.CommitAsync(new SchedulingPlan([], [], [new ExpectedStart(b, T0.AddMinutes(7), Node1)]), T0, Ct);
        Assert.Null((await GetAsync(a)).ExpectedStart);
        Assert.Equal(T0.AddMinutes(7), (await GetAsync(b)).ExpectedStart);

        await StartAsync(b, Node1, [0]);
        Assert.Null((await GetAsync(b)).ExpectedStart);
    }

    [StoreFact]
    public async Task LoadEndedUsageAsync_ListsJobsThatRanAndEnded_AfterTheGivenTime()
    {
        await Nodes.RegisterAsync(new NodeRegistration(Node1, 8, 16384, ["batch"], Gres: GresList.Parse("gpu:2")), T0, Ct);
        var early = await SubmitAsync(Spec(account: "physics", cpus: 2));
        var late = await SubmitAsync(Spec(account: "chemistry"));
        var running = await SubmitAsync();
        var neverRan = await SubmitAsync();
        await Scheduler.CommitAsync(new SchedulingPlan([new JobStart(early, Node1, [0, 1], 0, [new GresDevice("gpu", 1)])], []), T0, Ct);
        await StartAsync(late, Node1, [2], now: T0.AddMinutes(1));
        await StartAsync(running, Node1, [3]);
        await Jobs.CancelAsync(neverRan, T0, "x", Ct);
        await Agent.FinishAsync(new JobCompletion(early, 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(10)), Ct);
        await Agent.FinishAsync(new JobCompletion(late, 1, JobState.Failed, ExitCode.Exited(1), null, T0.AddMinutes(20)), Ct);

        var all = await Scheduler.LoadEndedUsageAsync(T0, 100, Ct);
        Assert.Equal(
            [new UsageRecord(early, "physics", 2, 1, T0, T0.AddMinutes(10)), new UsageRecord(late, "chemistry", 1, 0, T0.AddMinutes(1), T0.AddMinutes(20))],
            all);
        Assert.Equal([late], (await Scheduler.LoadEndedUsageAsync(T0.AddMinutes(10), 100, Ct)).Select(u => u.JobId));
        Assert.Equal([early], (await Scheduler.LoadEndedUsageAsync(T0, 1, Ct)).Select(u => u.JobId));
    }
}
