using Conductor.Agent.Execution;
using Conductor.Agent.Processes;
using Conductor.Agent.Recovery;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Agent.Tests;

/// <summary>Each recovery strategy decides alone, and the composite tries them in order.</summary>
public sealed class RecoveryStrategyTests
{
    private static readonly DateTimeOffset Now = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly LaunchedProcess Live = new(4242, 777) { IsChild = false };

    private static RecoveryCandidate Candidate(
        bool launched = true, LaunchedProcess? live = null, ExitCode? status = null, TimeSpan? limit = null,
        TimeSpan? ranFor = null, bool requeue = false, int attempt = 1, int maxRetries = 0)
    {
        var job = new JobRecord
        {
            Id = new JobId(7),
            Attempt = attempt,
            State = JobState.Running,
            SubmitTime = Now.AddHours(-1),
            StartTime = Now - (ranFor ?? TimeSpan.FromMinutes(1)),
            Node = new NodeName("n1"),
            ProcessId = launched ? 4242 : null,
            ProcessStartTicks = launched ? 777 : null,
            Spec = new JobSpec { Name = "j", Account = "a", Partition = "p", WorkDir = "/tmp", TimeLimit = limit, Requeue = requeue, MaxRetries = maxRetries },
        };
        return new RecoveryCandidate(new Dispatch(job, "true"), new JobDirectory("/nonexistent/job-7-1"), live, status);
    }

    [Fact]
    public void TimeLimit_AdoptsAndStops_WhenALiveJobIsPastItsLimit()
    {
        var action = new TimeLimitRecovery().Decide(Candidate(live: Live, limit: TimeSpan.FromMinutes(5), ranFor: TimeSpan.FromMinutes(6)), Now);

        var adopt = Assert.IsType<RecoveryAction.Adopt>(action);
        Assert.True(adopt.StopForTimeLimit);
        Assert.Null(new TimeLimitRecovery().Decide(Candidate(live: Live, limit: TimeSpan.FromMinutes(5), ranFor: TimeSpan.FromMinutes(4)), Now));
        Assert.Null(new TimeLimitRecovery().Decide(Candidate(live: null, limit: TimeSpan.FromMinutes(5), ranFor: TimeSpan.FromMinutes(6)), Now));
    }

    [Fact]
    public void Adoption_TakesOverALiveJob_AndNothingElse()
    {
        var adopt = Assert.IsType<RecoveryAction.Adopt>(new LiveJobAdoption().Decide(Candidate(live: Live), Now));

        Assert.Equal(Live, adopt.Process);
        Assert.False(adopt.StopForTimeLimit);
        Assert.Null(new LiveJobAdoption().Decide(Candidate(), Now));
    }

    [Theory]
    [InlineData(0, 0, JobState.Completed)]
    [InlineData(3, 0, JobState.Failed)]
    [InlineData(0, 9, JobState.Failed)]
    public void FinishedWhileAway_RecordsTheRealStatus(int code, int signal, JobState state)
    {
        var finish = Assert.IsType<RecoveryAction.Finish>(new FinishedWhileAwayRecovery().Decide(Candidate(status: new ExitCode(code, signal)), Now));

        Assert.Equal(state, finish.State);
        Assert.Equal(new ExitCode(code, signal), finish.Exit);
        Assert.Null(new FinishedWhileAwayRecovery().Decide(Candidate(), Now));
    }

    [Fact]
    public void FinishedWhileAway_RetriesAFailedScript_AsTheAgentWouldHave_WhileRetriesAreLeft()
    {
        var retried = Assert.IsType<RecoveryAction.Finish>(new FinishedWhileAwayRecovery().Decide(Candidate(status: ExitCode.Exited(3), maxRetries: 1), Now));
        var spent = Assert.IsType<RecoveryAction.Finish>(new FinishedWhileAwayRecovery().Decide(Candidate(status: ExitCode.Exited(3), attempt: 2, maxRetries: 1), Now));

        Assert.Equal(JobState.Pending, retried.State);
        Assert.Contains("retry 1 of 1", retried.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCode.Exited(3), retried.Exit);
        Assert.Equal(JobState.Failed, spent.State);
    }

    [Fact]
    public void Orphan_EndsTheJobFailed_WhenItWasRestartedTooOften()
    {
        var finish = Assert.IsType<RecoveryAction.Finish>(
            new OrphanJobRecovery().Decide(Candidate(requeue: true, attempt: JobTransitions.MaxRequeues + 1), Now));

        Assert.Equal(JobState.Failed, finish.State);
        Assert.Contains("not requeued again", finish.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Orphan_FailsWithAReason_OrRequeuesWhenAsked()
    {
        var failed = Assert.IsType<RecoveryAction.Finish>(new OrphanJobRecovery().Decide(Candidate(), Now));
        var requeued = Assert.IsType<RecoveryAction.Finish>(new OrphanJobRecovery().Decide(Candidate(requeue: true), Now));

        Assert.Equal(JobState.Failed, failed.State);
        Assert.Contains("gone", failed.Error, StringComparison.Ordinal);
        Assert.Equal(JobState.Pending, requeued.State);
        Assert.Null(new OrphanJobRecovery().Decide(Candidate(launched: false), Now));
        Assert.Null(new OrphanJobRecovery().Decide(Candidate(live: Live), Now));
    }

    [Fact]
    public void NeverStarted_PutsTheJobBackInTheQueue()
    {
        var finish = Assert.IsType<RecoveryAction.Finish>(new NeverStartedRecovery().Decide(Candidate(launched: false), Now));

        Assert.Equal(JobState.Pending, finish.State);
        Assert.Null(new NeverStartedRecovery().Decide(Candidate(launched: true), Now));
        Assert.Null(new NeverStartedRecovery().Decide(Candidate(launched: false, live: Live), Now));
    }

    [Fact]
    public void Composite_TriesStrategiesInOrder_FirstDecisionWins()
    {
        var composite = CompositeRecoveryStrategy.Default();

        Assert.IsType<RecoveryAction.Adopt>(composite.Decide(Candidate(live: Live), Now));
        Assert.True(((RecoveryAction.Adopt)composite.Decide(Candidate(live: Live, limit: TimeSpan.FromSeconds(1)), Now)!).StopForTimeLimit);
        Assert.Equal(JobState.Completed, ((RecoveryAction.Finish)composite.Decide(Candidate(status: ExitCode.Success), Now)!).State);
        Assert.Equal(JobState.Failed, ((RecoveryAction.Finish)composite.Decide(Candidate(), Now)!).State);
        Assert.Equal(JobState.Pending, ((RecoveryAction.Finish)composite.Decide(Candidate(launched: false), Now)!).State);
        Assert.Equal(5, composite.Strategies.Count);
    }
}
