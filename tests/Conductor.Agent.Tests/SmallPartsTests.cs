using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class SmallPartsTests
{
    [Fact]
    public void TryParse_ReadsFieldsAfterLastParenthesis_WhenCommandHasSpacesAndParentheses()
    {
        var line = "4242 (my (weird) cmd) S 1 4242 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
            + "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

        Assert.True(ProcStat.TryParse(line, out var stat));
        Assert.Equal(new ProcStat(4242, 'S', 4242, 4240, 987654), stat);
    }

    [Fact]
    public void TryParse_Fails_WhenLineIsTruncated()
    {
        Assert.False(ProcStat.TryParse("12 (x) S 1 2 3", out _));
    }

    [Theory]
    [InlineData(9, "SIGKILL")]
    [InlineData(15, "SIGTERM")]
    [InlineData(13, "SIGPIPE")]
    [InlineData(36, "SIGRTMIN+2")]
    public void Name_ReturnsLinuxName_WhenSignalIsKnown(int signal, string name)
    {
        Assert.Equal(name, SignalNames.Name(signal));
    }

    [Theory]
    [InlineData(0, 0, StopReason.None, OutcomeKind.Completed, JobState.Completed)]
    [InlineData(2, 0, StopReason.None, OutcomeKind.Failed, JobState.Failed)]
    [InlineData(0, 15, StopReason.TimeLimit, OutcomeKind.TimedOut, JobState.Timeout)]
    [InlineData(0, 0, StopReason.UserCancel, OutcomeKind.Cancelled, JobState.Cancelled)]
    [InlineData(0, 15, StopReason.Shutdown, OutcomeKind.ShutDown, JobState.Failed)]
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
        Assert.Equal("Killed by signal 11 (SIGSEGV)", JobOutcome.FromExit(ExitCode.Killed(11), StopReason.None, null).Error);
    }

    [Fact]
    public void CommandLine_RunsScriptDirectly_WhenScriptHasShebang()
    {
        var launch = Jobs.Launch("/w", "#!/usr/bin/env python3\nprint(1)", l => l with { Arguments = ["x"] });

        var (exe, argv) = JobRunner.CommandLine("/s/job.sh", launch);

        Assert.Equal("/s/job.sh", exe);
        Assert.Equal(["/s/job.sh", "x"], argv);
    }

    [Fact]
    public void CommandLine_RunsBash_WhenScriptHasNoShebang()
    {
        var launch = Jobs.Launch("/w", "echo hi", l => l with { Arguments = ["x"] });

        var (exe, argv) = JobRunner.CommandLine("/s/job.sh", launch);

        Assert.Equal("/bin/bash", exe);
        Assert.Equal(["/bin/bash", "/s/job.sh", "x"], argv);
    }

    [Fact]
    public void Validate_Succeeds_WhenOptionsAreComplete()
    {
        var options = new AgentOptions { NodeName = "node1", ScriptsDirectory = "/var/lib/conductor/scripts", MemoryMiB = 1024 };

        Assert.True(new AgentOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void Validate_Fails_WhenOptionsAreInvalid()
    {
        var options = new AgentOptions
        {
            NodeName = "bad name",
            Cpus = 0,
            ScriptsDirectory = "relative",
            PollInterval = TimeSpan.Zero,
            KillWait = TimeSpan.FromSeconds(-1),
            Partitions = [],
        };

        var result = new AgentOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Equal(6, result.Failures!.Count());
    }
}
