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
        Assert.Equal(new ProcStat(4242, 'S', 4242, 4240, 987654) { CpuTicks = 3, RssPages = 10, ParentPid = 1 }, stat);
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

    [Theory]
    [InlineData("0\n", 0, 0)]
    [InlineData("3\n", 3, 0)]
    [InlineData("137\n", 0, 9)]
    [InlineData("143\n", 0, 15)]
    [InlineData("255\n", 255, 0)]
    public void ParseStatus_ReadsShellStatus_WhenComplete(string text, int code, int signal)
    {
        Assert.Equal(new ExitCode(code, signal), JobWrapper.ParseStatus(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("13")]
    [InlineData("x\n")]
    [InlineData("300\n")]
    public void ParseStatus_ReturnsNull_WhenIncomplete(string text)
    {
        Assert.Null(JobWrapper.ParseStatus(text));
    }

    [Fact]
    public void Argv_WrapsTheJobCommand_WithItsDirectoryAndCgroup()
    {
        var argv = JobWrapper.Argv("/s/job-1-1", "/cg/cgroup.procs", ["/s/job-1-1/script", "x"]);

        Assert.Equal(["/bin/sh", "-c", JobWrapper.Script, JobWrapper.ProcessName, "/s/job-1-1", "/cg/cgroup.procs", "/s/job-1-1/script", "x"], argv);
    }

    [Fact]
    public void CpuMap_MapsCoresOntoAllowedCpus_AndWrapsAround()
    {
        var map = new Conductor.Agent.Resources.CpuMap([2, 3, 5]);

        Assert.Equal([2], map.Map([0]));
        Assert.Equal([3, 5], map.Map([1, 2]));
        Assert.Equal([2, 3], map.Map([3, 1]));
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
