using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>Dependencies and user or admin holds, on every backend.</summary>
public abstract partial class StoreContractTests
{
    private static Dependency Depends(string text) =>
        Dependencies.TryParse(text, out var dependency, out var error) ? dependency! : throw new ArgumentException(error, nameof(text));

    private async Task<SchedulerSnapshot> GatedSnapshotAsync(DateTimeOffset? now = null) =>
        DependencyGate.Apply(await Scheduler.LoadSnapshotAsync(Ct), now ?? T0.AddHours(1));

    private async Task EndAsync(JobId id, JobState state, int exit = 0)
    {
        await RegisterAsync(Node1);
        await StartAsync(id, Node1, [0]);
        Assert.Equal(FinishOutcome.Finished, await Agent.FinishAsync(new JobCompletion(id, 1, state, ExitCode.Exited(exit), null, T0.AddMinutes(1)), Ct));
    }

    [StoreFact]
    public async Task Dependency_GatesTheJobUntilItsTargetCompletes_ThenIsForgotten()
    {
        var target = await SubmitAsync();
        var dependent = await SubmitAsync(Spec() with { Dependency = Depends($"afterok:{target}") });

        Assert.Equal($"afterok:{target}(unfulfilled)", (await GetAsync(dependent)).DependencyText);
        var snapshot = await GatedSnapshotAsync();
        Assert.Equal(PendingReasons.Dependency, snapshot.Pending.Single(j => j.Id == dependent).Ineligible);
        Assert.Null(snapshot.Pending.Single(j => j.Id == target).Ineligible);
        Assert.Equal(new TargetStatus(1, 0, 0, 0, null), Assert.Single(snapshot.Dependents).Targets.Single());

        await EndAsync(target, JobState.Completed);
        snapshot = await GatedSnapshotAsync();
        var verdict = Assert.Single(snapshot.DependencyVerdicts);
        Assert.Equal(DependencyState.Fulfilled, verdict.State);
        Assert.True(verdict.Drop);
        Assert.Null(Assert.Single(snapshot.Pending).Ineligible);
        Assert.Equal($"afterok:{target}(fulfilled)", (await GetAsync(dependent)).DependencyText);

        await Scheduler.DropDependenciesAsync([dependent], Ct);
        Assert.Null((await GetAsync(dependent)).Spec.Dependency);
        Assert.Empty((await Scheduler.LoadSnapshotAsync(Ct)).Dependents);
    }

    [StoreFact]
    public async Task Dependency_OnAFailedJob_IsNeverSatisfiedForAfterOk_AndMetForAfterNotOkAndAfterAny()
    {
        var failed = await SubmitAsync();
        var ok = await SubmitAsync(Spec() with { Dependency = Depends($"afterok:{failed}") });
        var notOk = await SubmitAsync(Spec() with { Dependency = Depends($"afternotok:{failed}") });
        var any = await SubmitAsync(Spec() with { Dependency = Depends($"afterany:{failed}") });
        var either = await SubmitAsync(Spec() with { Dependency = Depends($"afterok:{failed}?afternotok:{failed}") });
        await EndAsync(failed, JobState.Failed, 1);

        var snapshot = await GatedSnapshotAsync();
        Assert.Equal(PendingReasons.DependencyNeverSatisfied, snapshot.Pending.Single(j => j.Id == ok).Ineligible);
        Assert.Null(snapshot.Pending.Single(j => j.Id == notOk).Ineligible);
        Assert.Null(snapshot.Pending.Single(j => j.Id == any).Ineligible);
        Assert.Null(snapshot.Pending.Single(j => j.Id == either).Ineligible);
        Assert.Equal($"afterok:{failed}(failed)", (await GetAsync(ok)).DependencyText);
        Assert.Equal($"afterok:{failed}(failed)?afternotok:{failed}(fulfilled)", (await GetAsync(either)).DependencyText);
        var listed = await Jobs.ListAsync(new JobQuery { States = [JobState.Pending] }, Ct);
        Assert.Equal($"afterany:{failed}(fulfilled)", listed.Single(j => j.Id == any).DependencyText);
    }

    private async Task<Dictionary<int, JobId>> TaskRowsAsync(JobId array) =>
        (await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct))
            .Where(j => j.ArrayJobId == array && j.ArrayTaskId is not null)
            .ToDictionary(j => j.ArrayTaskId!.Value, j => j.Id);

    [StoreFact]
    public async Task AfterCorr_PairsEachTaskWithTheTargetsTaskOfTheSameId_AndATaskWithoutOneWithTheWholeTarget()
    {
        await RegisterAsync(Node1, cpus: 8);
        var a = await SubmitAsync(Spec() with { Array = JobArraySpec.Parse("1-3") });
        var b = await SubmitAsync(Spec() with { Array = JobArraySpec.Parse("1-4"), Dependency = Depends($"aftercorr:{a}"), KillOnInvalidDependency = true });

        Assert.Equal(7, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var aTasks = await TaskRowsAsync(a);
        var bTasks = await TaskRowsAsync(b);
        Assert.Equal([1, 2, 3, 4], bTasks.Keys.Order());
        await StartAsync(aTasks[1], Node1, [0]);
        await StartAsync(aTasks[2], Node1, [1]);
        await Agent.FinishAsync(new JobCompletion(aTasks[1], 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(1)), Ct);
        await Agent.FinishAsync(new JobCompletion(aTasks[2], 1, JobState.Failed, ExitCode.Exited(1), null, T0.AddMinutes(1)), Ct);

        var snapshot = await GatedSnapshotAsync();
        string? Reason(int task) => snapshot.Pending.Single(j => j.Id == bTasks[task]).Ineligible;
        Assert.Null(Reason(1));
        Assert.Equal(PendingReasons.DependencyNeverSatisfied, Reason(2));
        Assert.Equal(PendingReasons.Dependency, Reason(3));
        Assert.Equal(PendingReasons.Dependency, Reason(4));
        Assert.Equal($"aftercorr:{a}(failed)", (await GetAsync(bTasks[2])).DependencyText);
        Assert.All(snapshot.DependencyVerdicts, v => Assert.True(v.KillOnInvalid));

        // A's last task completes: B_3 pairs with it; B_4 has no pair and the whole of A failed (A_2), as Slurm has it.
        await StartAsync(aTasks[3], Node1, [2]);
        await Agent.FinishAsync(new JobCompletion(aTasks[3], 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(2)), Ct);
        snapshot = await GatedSnapshotAsync();
        Assert.Null(Reason(3));
        Assert.Equal(PendingReasons.DependencyNeverSatisfied, Reason(4));
    }

    [StoreFact]
    public async Task AfterCorr_SplitsTenTasksAtATime_PairsThemWithUnstartedTasks_AndNeverFailsTheArraysRow()
    {
        await RegisterAsync(Node1, cpus: 2);
        var a = await SubmitAsync(Spec() with { Array = JobArraySpec.Parse("1-3"), Hold = true });
        var b = await SubmitAsync(Spec() with { Array = JobArraySpec.Parse("1-20"), Dependency = Depends($"aftercorr:{a}") });

        // Ten tasks wait, each for its pair, whatever room the node has; the rest stay in the array's row.
        Assert.Equal(JobArrayGate.CorrespondingTasksWaiting, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        Assert.Equal(0, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        var bTasks = await TaskRowsAsync(b);
        Assert.Equal(Enumerable.Range(1, 10), bTasks.Keys.Order());
        var snapshot = await GatedSnapshotAsync();
        Assert.All(bTasks.Values, id => Assert.Equal(PendingReasons.Dependency, snapshot.Pending.Single(j => j.Id == id).Ineligible));

        // A cancelled with its tasks unstarted: every split task can never start (pairs and no pair alike); the
        // array's row only waits, and the next pass splits the rest off to be judged.
        await Jobs.CancelAsync(a, T0.AddMinutes(1), "test", Ct);
        snapshot = await GatedSnapshotAsync();
        Assert.All(bTasks.Values, id => Assert.Equal(PendingReasons.DependencyNeverSatisfied, snapshot.Pending.Single(j => j.Id == id).Ineligible));
        Assert.Equal(PendingReasons.Dependency, snapshot.Pending.Single(j => j.Id == b).Ineligible);
        Assert.Equal(DependencyState.Unfulfilled, snapshot.DependencyVerdicts.Single(v => v.Id == b).State);
        Assert.Null(snapshot.DependencyVerdicts.Single(v => v.Id == b).KillOnInvalid);

        // Tasks that can never start do not hold the next ones back.
        await Scheduler.CommitAsync(new SchedulingPlan([], bTasks.Values.Select(id => new ReasonChange(id, PendingReasons.DependencyNeverSatisfied)).ToList()), T0, Ct);
        Assert.Equal(10, await Scheduler.SplitArrayTasksAsync(T0, Ct));
        Assert.Equal(20, (await TaskRowsAsync(b)).Count);
    }

    [StoreFact]
    public async Task Dependency_After_IsMetOnceTheTargetStarted_AndItsDelayPassed()
    {
        await RegisterAsync(Node1);
        var target = await SubmitAsync();
        var plain = await SubmitAsync(Spec() with { Dependency = Depends($"after:{target}") });
        var later = await SubmitAsync(Spec() with { Dependency = Depends($"after:{target}+5") });
        Assert.All((await GatedSnapshotAsync()).DependencyVerdicts, v => Assert.Equal(DependencyState.Unfulfilled, v.State));

        await StartAsync(target, Node1, [0], now: T0.AddSeconds(1));
        var snapshot = await GatedSnapshotAsync(T0.AddMinutes(2));
        Assert.Equal(DependencyState.Fulfilled, snapshot.DependencyVerdicts.Single(v => v.Id == plain).State);
        Assert.Equal(DependencyState.Unfulfilled, snapshot.DependencyVerdicts.Single(v => v.Id == later).State);
        Assert.Equal(T0.AddSeconds(1).AddMinutes(5), DependencyGate.NextDue(snapshot.Dependents, T0.AddMinutes(2)));
        Assert.Equal(DependencyState.Fulfilled, (await GatedSnapshotAsync(T0.AddMinutes(6))).DependencyVerdicts.Single(v => v.Id == later).State);
    }

    [StoreFact]
    public async Task Dependency_Singleton_LetsOneJobOfANameAndUserRunAtATime()
    {
        await RegisterAsync(Node1);
        var running = await SubmitAsync(Spec("solo"));
        await StartAsync(running, Node1, [0]);
        var first = await SubmitAsync(Spec("solo") with { Dependency = Depends("singleton") });
        var second = await SubmitAsync(Spec("solo") with { Dependency = Depends("singleton") });
        var other = await SubmitAsync(Spec("other") with { Dependency = Depends("singleton") });

        var snapshot = await GatedSnapshotAsync();
        Assert.Equal(PendingReasons.Dependency, snapshot.Pending.Single(j => j.Id == first).Ineligible);
        Assert.Equal(PendingReasons.Dependency, snapshot.Pending.Single(j => j.Id == second).Ineligible);
        Assert.Null(snapshot.Pending.Single(j => j.Id == other).Ineligible);

        await Agent.FinishAsync(new JobCompletion(running, 1, JobState.Completed, ExitCode.Success, null, T0.AddMinutes(1)), Ct);
        snapshot = await GatedSnapshotAsync();
        Assert.Null(snapshot.Pending.Single(j => j.Id == first).Ineligible);
        Assert.Equal(PendingReasons.Dependency, snapshot.Pending.Single(j => j.Id == second).Ineligible);
        Assert.DoesNotContain(snapshot.DependencyVerdicts, v => v.Drop);
    }

    [StoreFact]
    public async Task PurgeAsync_KeepsAnEndedJobThatAPendingJobDependsOn()
    {
        var target = await SubmitAsync();
        var alone = await SubmitAsync();
        await Jobs.CancelAsync(target, T0, "cancelled", Ct);
        await Jobs.CancelAsync(alone, T0, "cancelled", Ct);
        var dependent = await SubmitAsync(Spec() with { Dependency = Depends($"afterany:{target}") });

        Assert.Equal(1, await Jobs.PurgeAsync(T0.AddDays(30), 1000, Ct));
        Assert.NotNull(await Jobs.GetAsync(target, Ct));

        await Jobs.CancelAsync(dependent, T0, "cancelled", Ct);
        Assert.Equal(2, await Jobs.PurgeAsync(T0.AddDays(30), 1000, Ct));
        Assert.Null(await Jobs.GetAsync(target, Ct));
    }

    [StoreFact]
    public async Task SetHoldAsync_AnAdminsHold_IsReleasedOnlyAsAdmin()
    {
        var id = await SubmitAsync();

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.HoldAdmin, true, T0, "held by root", Ct));
        Assert.Equal(PendingReasons.JobHeldAdmin, (await GetAsync(id)).Reason);
        Assert.Equal(HoldOutcome.Forbidden, await Jobs.SetHoldAsync(id, HoldAction.Release, false, T0, "released by alice", Ct));
        Assert.Equal(HoldOutcome.Forbidden, await Jobs.SetHoldAsync(id, HoldAction.HoldUser, false, T0, "held by alice", Ct));
        Assert.True((await GetAsync(id)).Spec.Hold);

        // The pass keeps the admin's reason.
        var plan = new BackfillPolicy().Plan(await Scheduler.LoadSnapshotAsync(Ct), T0);
        Assert.DoesNotContain(plan.ReasonChanges, c => c.JobId == id);

        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.Release, true, T0, "released by root", Ct));
        Assert.False((await GetAsync(id)).Spec.Hold);
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.HoldUser, false, T0, "held by alice", Ct));
        Assert.Equal(PendingReasons.JobHeldUser, (await GetAsync(id)).Reason);
        Assert.Equal(HoldOutcome.Changed, await Jobs.SetHoldAsync(id, HoldAction.Release, false, T0, "released by alice", Ct));
    }

    [StoreFact]
    public async Task SetDependencyAsync_RefusesItselfAndCycles_AndReplacesTheDependencyOtherwise()
    {
        var a = await SubmitAsync();
        var b = await SubmitAsync(Spec() with { Dependency = Depends($"afterok:{a}") });
        var c = await SubmitAsync(Spec() with { Dependency = Depends($"afterany:{b}") });

        Assert.Equal(DependencyChangeOutcome.Cycle, await Jobs.SetDependencyAsync(a, Depends($"afterok:{a}"), T0, "self", Ct));
        Assert.Equal(DependencyChangeOutcome.Cycle, await Jobs.SetDependencyAsync(a, Depends($"afterok:{c}"), T0, "cycle", Ct));
        Assert.Null((await GetAsync(a)).Spec.Dependency);

        Assert.Equal(DependencyChangeOutcome.Changed, await Jobs.SetDependencyAsync(c, Depends($"afterok:{a}?singleton"), T0, "changed", Ct));
        Assert.Equal($"afterok:{a}(unfulfilled)?singleton(fulfilled)", (await GetAsync(c)).DependencyText);
        Assert.Equal(JobEventKind.DependencyChanged, (await Jobs.GetEventsAsync(c, Ct))[^1].Kind);
        Assert.Equal(DependencyChangeOutcome.Changed, await Jobs.SetDependencyAsync(b, null, T0, "removed", Ct));
        Assert.Null((await GetAsync(b)).Spec.Dependency);

        await Jobs.CancelAsync(a, T0, "cancelled", Ct);
        Assert.Equal(DependencyChangeOutcome.NotPending, await Jobs.SetDependencyAsync(a, null, T0, "late", Ct));
        Assert.Equal(DependencyChangeOutcome.NotFound, await Jobs.SetDependencyAsync(new JobId(999_999), null, T0, "none", Ct));
    }
}
