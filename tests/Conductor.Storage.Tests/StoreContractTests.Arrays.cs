using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

public abstract partial class StoreContractTests
{
    private Task<JobId> SubmitArrayAsync(string array, int cpus = 1) =>
        SubmitAsync(Spec(cpus: cpus) with { Array = JobArraySpec.Parse(array) });

    private async Task<IReadOnlyList<JobRecord>> ArrayRowsAsync(JobId array) =>
        (await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct)).Where(j => j.ArrayJobId == array).ToList();

    [StoreFact]
    public async Task SubmitAsync_KeepsAHundredThousandTaskArrayAsOneRow_AndAPassReadsOnlyWhatCouldStart()
    {
        await RegisterAsync(Node1, cpus: 8);
        var array = await SubmitArrayAsync("1-100000");

        var row = Assert.Single(await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct));
        Assert.Equal(array, row.ArrayJobId);
        Assert.Null(row.ArrayTaskId);
        Assert.Equal(100_000, row.ArrayPendingTasks!.Count);
        Assert.Equal($"{array}_[1-100000]", row.DisplayId);
        Assert.Equal(100_000, (await Jobs.CountByStateAsync(Ct))[JobState.Pending]);

        // A pass splits off only what the node could start (8 CPUs), and its snapshot holds those and the array's row.
        Assert.Equal(8, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        Assert.Equal(0, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var snapshot = JobArrayGate.Apply(await Scheduler.LoadSnapshotAsync(Ct), T0);
        Assert.Equal(9, snapshot.Pending.Count);
        var holder = Assert.Single(snapshot.Pending, p => p.Array!.HoldsUnstarted);
        Assert.Equal(PendingReasons.Resources, holder.Ineligible);
        Assert.All(snapshot.Pending.Where(p => !p.Array!.HoldsUnstarted), p => Assert.Null(p.Ineligible));

        var tasks = await ArrayRowsAsync(array);
        Assert.Equal(Enumerable.Range(1, 8), tasks.Where(t => t.ArrayTaskId is not null).Select(t => t.ArrayTaskId!.Value).Order());
        Assert.Equal("9-100000", (await GetAsync(array)).ArrayPendingTasks!.ToString());
        Assert.Equal(100_000, (await Jobs.GetArrayCountsAsync(array, Ct))![JobState.Pending]);
    }

    [StoreFact]
    public async Task SplitArrayTasksAsync_KeepsToTheLimit_AndTheGateCountsRunningTasks()
    {
        await RegisterAsync(Node1, cpus: 8);
        var array = await SubmitArrayAsync("1-20%4");

        Assert.Equal(4, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var first = (await ArrayRowsAsync(array)).Where(t => t.ArrayTaskId is not null).OrderBy(t => t.ArrayTaskId).ToList();
        await StartAsync(first[0].Id, Node1, [0]);
        await StartAsync(first[1].Id, Node1, [1]);
        Assert.Equal(0, await Scheduler.SplitArrayTasksAsync(T0, Ct));

        var snapshot = JobArrayGate.Apply(await Scheduler.LoadSnapshotAsync(Ct), T0);
        Assert.Equal(2, snapshot.ArrayRunning![array]);
        Assert.Equal(JobArrayGate.TaskLimit, snapshot.Pending.Single(p => p.Array!.HoldsUnstarted).Ineligible);
        Assert.All(snapshot.Pending.Where(p => !p.Array!.HoldsUnstarted), p => Assert.Null(p.Ineligible));

        // A task ends: one more is split off, never more than the limit allows.
        await Agent.FinishAsync(new JobCompletion(first[0].Id, 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(1)), Ct);
        Assert.Equal(1, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        Assert.Equal(0, await Scheduler.SplitArrayTasksAsync(T0, Ct));
    }

    [StoreFact]
    public async Task SplitArrayTasksAsync_GivesTheLastTaskTheArraysRow_AndItsTasksTheArraysScript()
    {
        await RegisterAsync(Node1, cpus: 8);
        var array = await SubmitArrayAsync("1-5:2");

        Assert.Equal(3, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var own = await GetAsync(array);
        Assert.Equal(5, own.ArrayTaskId);
        Assert.Null(own.ArrayPendingTasks);
        Assert.Equal($"{array}_5", own.DisplayId);

        var task3 = await Jobs.GetTaskAsync(array, 3, Ct);
        Assert.NotNull(task3);
        Assert.NotEqual(array, task3.Id);
        Assert.Equal("1-5:2", task3.Spec.Array!.ToString());
        await StartAsync(task3.Id, Node1, [0]);
        var dispatch = Assert.Single(await Agent.GetDispatchesAsync(Node1, Ct));
        Assert.Equal("#!/bin/sh\necho hi\n", dispatch.Script);
        Assert.Equal(3, dispatch.Job.ArrayTaskId);
        Assert.Equal(array, dispatch.Job.ArrayJobId);
    }

    [StoreFact]
    public async Task ResolveAsync_SplitsNamedUnstartedTasksOff_SoThatTheyCanBeCancelledAlone()
    {
        var array = await SubmitArrayAsync("1-10");
        Assert.Equal($"{array}_3", (await Jobs.GetTaskAsync(array, 3, Ct))!.DisplayId);
        Assert.Null(await Jobs.GetTaskAsync(array, 11, Ct));

        // Several tasks are carved off together into one row; one task gets a row of its own.
        var rows = await Jobs.ResolveAsync(JobRef.Parse($"{array}_[2-3]"), splitUnstarted: true, T0, Ct);
        var carved = Assert.Single(rows);
        Assert.Equal($"{array}_[2-3]", (await GetAsync(carved)).DisplayId);
        await Jobs.CancelAsync(carved, T0, "test", Ct);

        Assert.Equal(JobState.Cancelled, (await Jobs.GetTaskAsync(array, 2, Ct))!.State);
        Assert.Equal(JobState.Pending, (await Jobs.GetTaskAsync(array, 4, Ct))!.State);
        Assert.Equal("1,4-10", (await GetAsync(array)).ArrayPendingTasks!.ToString());

        // The whole array: its row and every task still pending or running.
        var all = await Jobs.ResolveAsync(JobRef.Of(array), splitUnstarted: true, T0, Ct);
        Assert.Equal([array], all);
        await Jobs.CancelAsync(array, T0, "test", Ct);
        var counts = (await Jobs.GetArrayCountsAsync(array, Ct))!;
        Assert.Equal(10, counts[JobState.Cancelled]);
        Assert.Equal(0, counts.Unfinished);
        Assert.Equal(0, await Scheduler.SplitArrayTasksAsync(T0, Ct));

        Assert.Empty(await Jobs.ResolveAsync(JobRef.Parse("999999_1"), splitUnstarted: true, T0, Ct));
    }

    [StoreFact]
    public async Task ResolveAsync_CarvesAHugeRangeOfUnstartedTasksIntoOneRow_ToHoldReleaseOrCancelThemTogether()
    {
        await RegisterAsync(Node1, cpus: 8);
        var array = await SubmitArrayAsync("1-100000");

        var held = Assert.Single(await Jobs.ResolveAsync(JobRef.Parse($"{array}_[1-90000]"), splitUnstarted: true, T0, Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(held, HoldAction.HoldUser, false, T0, "held", Ct));
        Assert.Equal(2, (await ArrayRowsAsync(array)).Count);
        Assert.Equal("90001-100000", (await GetAsync(array)).ArrayPendingTasks!.ToString());
        Assert.Equal(JobState.Pending, (await Jobs.GetTaskAsync(array, 5, Ct))!.State);

        // The held tasks are never split off to start.
        Assert.Equal(8, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        Assert.All((await ArrayRowsAsync(array)).Where(t => t.ArrayTaskId is not null), t => Assert.InRange(t.ArrayTaskId!.Value, 90001, 90008));

        // Releasing some of them carves those off again; the rest stay held in their row.
        var released = Assert.Single(await Jobs.ResolveAsync(JobRef.Parse($"{array}_[1-10]"), splitUnstarted: true, T0, Ct));
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(released, HoldAction.Release, false, T0, "released", Ct));
        Assert.Equal("11-90000", (await GetAsync(held)).ArrayPendingTasks!.ToString());
        Assert.True((await GetAsync(held)).Spec.Hold);
        Assert.Equal(100_000, (await Jobs.GetArrayCountsAsync(array, Ct))![JobState.Pending]);

        foreach (var row in await Jobs.ResolveAsync(JobRef.Parse($"{array}_[1-90000]"), splitUnstarted: true, T0, Ct))
        {
            await Jobs.CancelAsync(row, T0, "test", Ct);
        }

        var counts = (await Jobs.GetArrayCountsAsync(array, Ct))!;
        Assert.Equal(90_000, counts[JobState.Cancelled]);
        Assert.Equal(10_000, counts[JobState.Pending]);
        Assert.True((await ArrayRowsAsync(array)).Count <= 12);
    }

    [StoreFact]
    public async Task PurgeAsync_KeepsAnArraysRow_WhileAnyOfItsTasksIsPendingOrRunning()
    {
        await RegisterAsync(Node1, cpus: 2);
        var array = await SubmitArrayAsync("1-3");
        Assert.Equal(2, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var task = (await Jobs.GetTaskAsync(array, 1, Ct))!;

        // The array's row (its unstarted task 3 with it) is cancelled while task 1 still waits.
        Assert.Equal(CancelOutcome.Cancelled, (await Jobs.CancelAsync(array, T0, "test", Ct)).Outcome);
        Assert.Equal(0, await Jobs.PurgeAsync(T0.AddDays(1), 100, Ct));
        Assert.NotNull(await Jobs.GetAsync(array, Ct));

        await Jobs.CancelAsync(task.Id, T0, "test", Ct);
        var second = (await Jobs.GetTaskAsync(array, 2, Ct))!;
        await Jobs.CancelAsync(second.Id, T0, "test", Ct);
        Assert.Equal(3, await Jobs.PurgeAsync(T0.AddDays(1), 100, Ct));
    }
}
