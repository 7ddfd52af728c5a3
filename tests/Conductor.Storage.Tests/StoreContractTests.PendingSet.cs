using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>The scheduler's pending set kept between passes: always what a whole load would read.</summary>
public abstract partial class StoreContractTests
{
    /// <summary>Brings the set up to date and checks it against a whole load, job by job.</summary>
    protected async Task<SchedulerSnapshot> AssertPendingSetCurrentAsync(PendingSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        var kept = await Scheduler.LoadSnapshotAsync(set, Ct);
        var whole = await Scheduler.LoadSnapshotAsync(Ct);
        Assert.Equal(whole.Pending.OrderBy(j => j.Id.Value), kept.Pending.OrderBy(j => j.Id.Value));
        Assert.Equal(whole.Nodes.Select(n => (n.Name, n.Allocations.Count)), kept.Nodes.Select(n => (n.Name, n.Allocations.Count)));
        return kept;
    }

    [StoreFact]
    public async Task LoadSnapshotAsync_KeepsAPendingSetCurrent_ThroughEveryKindOfChange()
    {
        await RegisterAsync(Node1);
        var started = await SubmitAsync(Spec(name: "started") with { Requeue = true });
        var held = await SubmitAsync(Spec(name: "held"));
        var cancelled = await SubmitAsync(Spec(name: "cancelled"));
        var updated = await SubmitAsync(Spec(name: "updated"));
        var set = new PendingSet();
        Assert.Equal(4, (await AssertPendingSetCurrentAsync(set)).Pending.Count);
        var mark = set.Mark;

        // Nothing changed: nothing moves.
        await AssertPendingSetCurrentAsync(set);
        Assert.Equal(mark, set.Mark);

        var submitted = await SubmitAsync(Spec(name: "submitted"));
        await StartAsync(started, Node1, [0]);
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(held, HoldAction.HoldUser, false, T0.AddMinutes(1), "held", Ct));
        Assert.Equal(CancelOutcome.Cancelled, (await Jobs.CancelAsync(cancelled, T0.AddMinutes(1), "cancelled", Ct)).Outcome);
        Assert.Equal(UpdateOutcome.Updated, await Jobs.UpdateAsync(
            updated, new JobChanges(JobState.Pending, 0) { CpusPerTask = 3, Nice = 7, TimeLimit = new Change<TimeSpan?>(TimeSpan.FromMinutes(9)) },
            T0.AddMinutes(1), "updated", Ct));
        await Scheduler.CommitAsync(new SchedulingPlan([], [new ReasonChange(submitted, PendingReasons.Priority)]), T0.AddMinutes(1), Ct);

        var snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.Equal([held, updated, submitted], snapshot.Pending.Select(j => j.Id).Order());
        Assert.True(snapshot.Pending.Single(j => j.Id == held).Held);
        Assert.Equal((3, -7, TimeSpan.FromMinutes(9)), snapshot.Pending.Single(j => j.Id == updated) is var u ? (u.Cpus, u.Priority, u.TimeLimit) : default);
        Assert.Equal(PendingReasons.Priority, snapshot.Pending.Single(j => j.Id == submitted).Reason);
        // The mark moves past a change only once no transaction that could still add one before it is open; on
        // PostgreSQL that is any transaction of the server, another test's too, so it may lag but never goes back.
        Assert.True(set.Mark >= mark);

        // Released, and the started job comes back to the queue when its node dies.
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(held, HoldAction.Release, false, T0.AddMinutes(2), "released", Ct));
        Assert.Single(await Nodes.MarkNodesDownAsync(T0.AddMinutes(3), T0.AddMinutes(4), Ct));
        snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.Contains(snapshot.Pending, j => j.Id == started);
        Assert.False(snapshot.Pending.Single(j => j.Id == held).Held);
    }

    [StoreFact]
    public async Task LoadSnapshotAsync_KeepsAPendingSetCurrent_WhenSubmitsArriveTogether()
    {
        await SubmitAsync();
        var set = new PendingSet();
        await AssertPendingSetCurrentAsync(set);

        var ids = await Jobs.SubmitManyAsync([.. Enumerable.Range(0, 50).Select(i => new NewJob(Spec(name: $"burst{i}"), "#!/bin/sh\ntrue\n", T0))], Ct);

        var snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.Equal(51, snapshot.Pending.Count);
        Assert.Subset(snapshot.Pending.Select(j => j.Id).ToHashSet(), ids.ToHashSet());
    }

    [StoreFact]
    public async Task LoadSnapshotAsync_KeepsAPendingSetCurrent_WhenArrayTasksAreSplitOff()
    {
        await RegisterAsync(Node1, cpus: 4);
        var array = await SubmitAsync(Spec() with { Array = JobArraySpec.Parse("1-10") });
        var set = new PendingSet();
        Assert.Single((await AssertPendingSetCurrentAsync(set)).Pending);

        Assert.Equal(4, await Scheduler.SplitArrayTasksAsync(T0, Ct));

        var snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.Equal(5, snapshot.Pending.Count);
        Assert.Equal(4, snapshot.Pending.Count(j => j.Array is { HoldsUnstarted: false } a && a.ArrayJobId == array));
    }

    [StoreFact]
    public async Task PruneChangesAsync_ForgetsOnlyWhatTheSetHasRead()
    {
        var first = await SubmitAsync();
        var set = new PendingSet();
        await AssertPendingSetCurrentAsync(set);
        await SubmitAsync();
        await AssertPendingSetCurrentAsync(set);
        var read = set.Mark!.Value;
        var late = await SubmitAsync();

        await Scheduler.PruneChangesAsync(read, Ct);
        Assert.Equal(CancelOutcome.Cancelled, (await Jobs.CancelAsync(first, T0.AddMinutes(1), "cancelled", Ct)).Outcome);

        var snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.Contains(snapshot.Pending, j => j.Id == late);
        Assert.DoesNotContain(snapshot.Pending, j => j.Id == first);

        // A new set (a new leader) loads whole, whatever was pruned.
        await Scheduler.PruneChangesAsync(set.Mark!.Value, Ct);
        await AssertPendingSetCurrentAsync(new PendingSet());
    }
}
