using Conductor.Core.Jobs;

namespace Conductor.Core.Tests;

public sealed class JobTransitionsTests
{
    [Theory]
    [InlineData(JobState.Completed)]
    [InlineData(JobState.Timeout)]
    [InlineData(JobState.OutOfMemory)]
    [InlineData(JobState.Cancelled)]
    public void Finish_EndsTheJobInTheReportedState_WhenTheStateIsTerminal(JobState state)
    {
        var end = JobTransitions.Finish(state, "why");

        Assert.Equal(new AttemptEnd(state, "why"), end);
        Assert.False(end.Requeued);
    }

    [Fact]
    public void Finish_Throws_WhenTheStateIsNotTerminal()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => JobTransitions.Finish(JobState.Pending, null));
    }

    [Theory]
    [InlineData(1, 2, "Exited with code 3; trying again (retry 1 of 2)")]
    [InlineData(2, 2, "Exited with code 3; trying again (retry 2 of 2)")]
    public void ScriptFailed_PutsTheJobBackAsARetry_WhileRetriesAreLeft(int attempt, int maxRetries, string error)
    {
        var end = JobTransitions.ScriptFailed("Exited with code 3", attempt, maxRetries);

        Assert.Equal(new AttemptEnd(JobState.Pending, error, Retry: true), end);
        Assert.True(end.Requeued);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 2)]
    public void ScriptFailed_EndsTheJobFailed_WhenRetriesAreUsedUp(int attempt, int maxRetries)
    {
        Assert.Equal(new AttemptEnd(JobState.Failed, "Exited with code 3"), JobTransitions.ScriptFailed("Exited with code 3", attempt, maxRetries));
    }

    [Theory]
    [InlineData(JobState.Failed)]
    [InlineData(JobState.NodeFail)]
    public void Lost_EndsTheJob_WhenItDidNotAskForRequeue(JobState lostState)
    {
        Assert.Equal(new AttemptEnd(lostState, "node gone"), JobTransitions.Lost(lostState, "node gone", requeue: false, attempt: 1));
    }

    [Fact]
    public void Lost_RequeuesTheJob_UpToTheLimitOfRestarts()
    {
        var ends = Enumerable.Range(1, JobTransitions.MaxRequeues + 2)
            .Select(attempt => JobTransitions.Lost(JobState.NodeFail, "node gone", requeue: true, attempt))
            .ToList();

        Assert.All(ends.Take(JobTransitions.MaxRequeues), e => Assert.Equal(new AttemptEnd(JobState.Pending, "node gone; requeued as the job asked"), e));
        Assert.All(ends.Skip(JobTransitions.MaxRequeues), e => Assert.Equal(
            new AttemptEnd(JobState.NodeFail, $"node gone; not requeued again after {JobTransitions.MaxRequeues} restarts"), e));
    }

    [Fact]
    public void Lost_Throws_WhenTheLostStateIsNotTerminal()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => JobTransitions.Lost(JobState.Pending, "x", requeue: true, attempt: 1));
    }

    [Fact]
    public void NeverStarted_PutsTheJobBack_WhateverItAsked()
    {
        Assert.Equal(new AttemptEnd(JobState.Pending, "never ran"), JobTransitions.NeverStarted("never ran"));
    }

    [Theory]
    [InlineData(JobState.Running, 2, JobState.Completed, 2, ReportVerdict.Apply)]
    [InlineData(JobState.Running, 2, JobState.Pending, 2, ReportVerdict.Apply)]
    [InlineData(JobState.Running, 2, JobState.Completed, 1, ReportVerdict.Stale)]
    [InlineData(JobState.Running, 2, JobState.Running, 2, ReportVerdict.Stale)]
    [InlineData(JobState.Cancelled, 2, JobState.Completed, 2, ReportVerdict.FillIn)]
    [InlineData(JobState.NodeFail, 2, JobState.Failed, 2, ReportVerdict.FillIn)]
    [InlineData(JobState.Cancelled, 2, JobState.Completed, 1, ReportVerdict.Stale)]
    [InlineData(JobState.Pending, 2, JobState.Completed, 2, ReportVerdict.Stale)]
    public void OnReport_AppliesOnlyTheCurrentAttemptsEnd_AndFillsInAnEndedJob(
        JobState current, int currentAttempt, JobState reported, int reportedAttempt, ReportVerdict verdict)
    {
        Assert.Equal(verdict, JobTransitions.OnReport(current, currentAttempt, reported, reportedAttempt));
    }
}
