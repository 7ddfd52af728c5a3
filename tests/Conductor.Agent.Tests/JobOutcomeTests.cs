using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class JobOutcomeTests
{
    [Theory]
    [InlineData(0, 0, StopReason.None, OutcomeKind.Completed, JobState.Completed)]
    [InlineData(2, 0, StopReason.None, OutcomeKind.Failed, JobState.Failed)]
    [InlineData(0, 15, StopReason.TimeLimit, OutcomeKind.TimedOut, JobState.Timeout)]
    [InlineData(0, 0, StopReason.UserCancel, OutcomeKind.Cancelled, JobState.Cancelled)]
    [InlineData(0, 9, StopReason.OutOfMemory, OutcomeKind.OutOfMemory, JobState.OutOfMemory)]
    [InlineData(0, 9, StopReason.Fenced, OutcomeKind.Fenced, JobState.Cancelled)]
    public void FromExit_MapsToState_WhenStopReasonGiven(int code, int signal, StopReason stop, OutcomeKind kind, JobState state)
    {
        var outcome = JobOutcome.FromExit(new ExitCode(code, signal), stop, TimeSpan.FromMinutes(1));

        Assert.Equal(kind, outcome.Kind);
        Assert.Equal(state, outcome.State);
        Assert.Equal(new ExitCode(code, signal), outcome.ExitCode);
    }

    [Fact]
    public void FromExit_DescribesSignal_WhenKilled()
    {
        Assert.Equal("Killed by signal 11 (SIGSEGV), which Conductor did not send", JobOutcome.FromExit(ExitCode.Killed(11), StopReason.None, null).Error);
    }
}
