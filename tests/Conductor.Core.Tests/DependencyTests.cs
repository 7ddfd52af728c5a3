using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class DependencyTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static Dependency Parse(string text)
    {
        Assert.True(Dependencies.TryParse(text, out var dependency, out var error), error);
        return dependency!;
    }

    [Theory]
    [InlineData("afterok:12", "afterok:12")]
    [InlineData("afterok:12:13,afterany:14", "afterok:12,afterok:13,afterany:14")]
    [InlineData("afterok:12?afternotok:12", "afterok:12?afternotok:12")]
    [InlineData("after:12+5", "after:12+5")]
    [InlineData("AfterCorr:20", "aftercorr:20")]
    [InlineData("singleton", "singleton")]
    [InlineData("afterok:30_7,afterok:31_*", "afterok:30_7,afterok:31")]
    [InlineData("12:13", "afterany:12,afterany:13")]
    public void TryParse_ReadsSlurmsSyntax(string text, string expected)
    {
        Assert.Equal(expected, Parse(text).ToString());
    }

    [Theory]
    [InlineData("afterwards:1", "'afterwards' is not a dependency type")]
    [InlineData("afterok", "afterok needs at least one job id")]
    [InlineData("afterok:x", "'x' is not a job id")]
    [InlineData("afterok:0", "'0' is not a job id")]
    [InlineData("afterok:1,afterany:2?after:3", "not both")]
    [InlineData("afterok:1,,afterany:2", "empty part")]
    [InlineData("afterok:1+5", "only after takes a delay")]
    [InlineData("singleton:4", "singleton takes no job ids")]
    public void TryParse_Refuses_WithAReason(string text, string reason)
    {
        Assert.False(Dependencies.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_GivesNothing_ForEmptyText()
    {
        Assert.True(Dependencies.TryParse("  ", out var dependency, out _));
        Assert.Null(dependency);
    }

    [Theory]
    [InlineData(DependencyKind.AfterOk, 0, 0, 1, 0, DependencyState.Fulfilled)]
    [InlineData(DependencyKind.AfterOk, 0, 0, 3, 1, DependencyState.Failed)]
    [InlineData(DependencyKind.AfterOk, 1, 1, 0, 0, DependencyState.Unfulfilled)]
    [InlineData(DependencyKind.AfterNotOk, 0, 0, 1, 0, DependencyState.Failed)]
    [InlineData(DependencyKind.AfterNotOk, 0, 0, 2, 1, DependencyState.Fulfilled)]
    [InlineData(DependencyKind.AfterNotOk, 0, 1, 0, 1, DependencyState.Unfulfilled)]
    [InlineData(DependencyKind.AfterAny, 0, 0, 0, 1, DependencyState.Fulfilled)]
    [InlineData(DependencyKind.AfterAny, 0, 1, 0, 0, DependencyState.Unfulfilled)]
    [InlineData(DependencyKind.After, 0, 1, 0, 0, DependencyState.Fulfilled)]
    [InlineData(DependencyKind.After, 1, 1, 0, 0, DependencyState.Unfulfilled)]
    public void Term_FollowsSlurmsMeaning(DependencyKind kind, int pending, int running, int completed, int failed, DependencyState expected)
    {
        var term = new DependencyTerm(kind, new JobId(1));

        Assert.Equal(expected, DependencyGate.Term(term, new TargetStatus(pending, running, completed, failed, Now), Now));
    }

    [Theory]
    [InlineData(0, 1, 0, 1, false, DependencyState.Unfulfilled)]
    [InlineData(0, 0, 2, 1, false, DependencyState.Failed)]
    [InlineData(0, 0, 2, 1, true, DependencyState.Unfulfilled)]
    [InlineData(0, 0, 3, 0, true, DependencyState.Fulfilled)]
    [InlineData(1, 0, 0, 0, false, DependencyState.Unfulfilled)]
    public void Term_AfterCorr_IsJudgedOnceItsTargetEnded_AndNeverFailsAnArraysUnstartedRow(
        int pending, int running, int completed, int failed, bool arrayHolder, DependencyState expected)
    {
        var term = new DependencyTerm(DependencyKind.AfterCorr, new JobId(1));

        Assert.Equal(expected, DependencyGate.Term(term, new TargetStatus(pending, running, completed, failed, Now), Now, arrayHolder));
    }

    [Fact]
    public void Term_IsMet_WhenTheTargetIsGone()
    {
        Assert.Equal(DependencyState.Fulfilled, DependencyGate.Term(new DependencyTerm(DependencyKind.AfterOk, new JobId(1)), null, Now));
    }

    [Fact]
    public void Apply_GatesOnlyTheDependents_AndKeepsAnotherGatesReason()
    {
        var snapshot = new SchedulerSnapshot(
            [Pending(1), Pending(2), Pending(3) with { Ineligible = "JobArrayTaskLimit" }, Pending(4)],
            [])
        {
            Dependents =
            [
                new DependentJob(new JobId(2), "a", "alice", Parse("afterok:9"), [new TargetStatus(0, 1, 0, 0, Now)]),
                new DependentJob(new JobId(3), "a", "alice", Parse("afterok:9"), [new TargetStatus(0, 1, 0, 0, Now)]),
                new DependentJob(new JobId(4), "a", "alice", Parse("afterok:8,afterany:9"), [new TargetStatus(0, 0, 0, 1, Now), new TargetStatus(0, 1, 0, 0, Now)]),
            ],
        };

        var gated = DependencyGate.Apply(snapshot, Now);

        Assert.Equal([null, "Dependency", "JobArrayTaskLimit", "DependencyNeverSatisfied"], gated.Pending.Select(p => p.Ineligible));
        Assert.Equal(3, gated.DependencyVerdicts.Count);
        Assert.DoesNotContain(gated.DependencyVerdicts, v => v.Drop);
    }

    [Fact]
    public void Describe_ShowsEachTermsState_AsSlurmDoes()
    {
        var dependency = Parse("afterok:12:13");

        Assert.Equal("afterok:12(fulfilled),afterok:13(unfulfilled)",
            Dependencies.Describe(dependency, [DependencyState.Fulfilled, DependencyState.Unfulfilled]));
    }

    private static PendingJob Pending(long id) =>
        new(new JobId(id), 0, Now, "batch", 1, 0, false, false, null, null, null, "alice");
}
