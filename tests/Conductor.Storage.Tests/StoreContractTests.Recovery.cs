using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>What recovery at start, stage events and retention need from a store.</summary>
public abstract partial class StoreContractTests
{
    [StoreFact]
    public async Task MarkLaunchedAndFinish_WriteTheAgentsEventsInOrder()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        var launch = Launch() with
        {
            Events = [new AgentEvent(T0.AddSeconds(1.5), JobEventKind.Stage, "Prepared"), new AgentEvent(T0.AddSeconds(2), JobEventKind.Stage, "Running")],
        };
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, launch, Ct));
        await Agent.FinishAsync(new JobCompletion(id, 1, JobState.Completed, ExitCode.Success, null, T0.AddSeconds(5),
            Events: [new AgentEvent(T0.AddSeconds(4), JobEventKind.Stage, "Completed"), new AgentEvent(T0.AddSeconds(4.5), JobEventKind.Stage, "CleanedUp")]), Ct);

        var events = await Jobs.GetEventsAsync(id, Ct);
        var stages = events.Where(e => e.Kind == JobEventKind.Stage).Select(e => e.Detail).ToList();
        Assert.Equal(["Prepared", "Running", "Completed", "CleanedUp"], stages);
        Assert.Equal(JobEventKind.Finished, events[^1].Kind);
        Assert.True(events.Select(e => e.Sequence).SequenceEqual(events.Select(e => e.Sequence).Order()));
    }

    [StoreFact]
    public async Task GetAssignedAsync_ListsLaunchedAndUnlaunchedRunningJobsOfTheNode()
    {
        await RegisterAsync(Node1);
        await RegisterAsync(Node2);
        var launched = await SubmitAsync();
        var waiting = await SubmitAsync();
        var elsewhere = await SubmitAsync();
        await StartAsync(launched, Node1, [0]);
        await StartAsync(waiting, Node1, [1]);
        await StartAsync(elsewhere, Node2, [0]);
        await Agent.MarkLaunchedAsync(launched, 1, Launch(), Ct);

        var assigned = await Agent.GetAssignedAsync(Node1, Ct);

        Assert.Equal([launched, waiting], assigned.Select(d => d.Job.Id));
        Assert.Equal(4242, assigned[0].Job.ProcessId);
        Assert.Null(assigned[1].Job.ProcessId);
        Assert.All(assigned, d => Assert.False(string.IsNullOrEmpty(d.Script)));
    }

    [StoreFact]
    public async Task ReleaseStaleAllocationsAsync_FreesOnlyAllocationsOfEndedJobs()
    {
        await RegisterAsync(Node1);
        var running = await SubmitAsync();
        var cancelled = await SubmitAsync();
        await StartAsync(running, Node1, [0]);
        await StartAsync(cancelled, Node1, [1]);
        Assert.True(await Agent.MarkLaunchedAsync(cancelled, 1, Launch(), Ct));
        await Jobs.CancelAsync(cancelled, T0.AddSeconds(3), "test", Ct);
        Assert.Equal(2, (await NodeAsync(Node1)).AllocatedCpus);

        var released = await Agent.ReleaseStaleAllocationsAsync(Node1, Ct);

        Assert.Equal(1, released);
        var node = await NodeAsync(Node1);
        Assert.Equal(1, node.AllocatedCpus);
        Assert.Equal([running], (await Agent.GetNodeJobsAsync(Node1, Ct)).Select(j => j.JobId));
        Assert.Equal(0, await Agent.ReleaseStaleAllocationsAsync(Node1, Ct));
    }

    [StoreFact]
    public async Task RecordRecoveryAsync_IsShownWithTheNode()
    {
        await RegisterAsync(Node1);
        var report = new RecoveryReport(T0, 3, 2, 1, TimeSpan.FromMilliseconds(42), ["job 1 adopted", "job 2 failed: gone"]);

        await Nodes.RecordRecoveryAsync(Node1, report, Ct);

        var shown = (await NodeAsync(Node1)).LastRecovery;
        Assert.NotNull(shown);
        Assert.Equal(report.Total, shown.Total);
        Assert.Equal(report.Recovered, shown.Recovered);
        Assert.Equal(report.Skipped, shown.Skipped);
        Assert.Equal(report.Duration, shown.Duration);
        Assert.Equal(report.Actions, shown.Actions);
        Assert.Equal(report.Time, shown.Time);
    }

    [StoreFact]
    public async Task PurgeAsync_DeletesOnlyOldEndedJobsWithTheirEvents()
    {
        await RegisterAsync(Node1);
        var old = await SubmitAsync();
        var recent = await SubmitAsync();
        var pending = await SubmitAsync();
        var running = await SubmitAsync();
        await Jobs.CancelAsync(old, T0.AddDays(1), "test", Ct);
        await Jobs.CancelAsync(recent, T0.AddDays(40), "test", Ct);
        await StartAsync(running, Node1, [0]);

        var purged = await Jobs.PurgeAsync(T0.AddDays(30), 1000, Ct);

        Assert.Equal(1, purged);
        Assert.Null(await Jobs.GetAsync(old, Ct));
        Assert.Empty(await Jobs.GetEventsAsync(old, Ct));
        Assert.NotNull(await Jobs.GetAsync(recent, Ct));
        Assert.NotNull(await Jobs.GetAsync(pending, Ct));
        Assert.NotNull(await Jobs.GetAsync(running, Ct));
        Assert.Equal(0, await Jobs.PurgeAsync(T0.AddDays(30), 1000, Ct));
    }

    [StoreFact]
    public async Task PurgeAsync_KeepsAnEndedJobThatStillHoldsItsAllocation()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);
        Assert.True(await Agent.MarkLaunchedAsync(id, 1, Launch(), Ct));
        await Jobs.CancelAsync(id, T0.AddDays(1), "test", Ct);

        Assert.Equal(0, await Jobs.PurgeAsync(T0.AddDays(30), 1000, Ct));
        Assert.NotNull(await Jobs.GetAsync(id, Ct));
    }
}
