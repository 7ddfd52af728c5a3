using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class JobWrapperTests
{
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
        var argv = JobWrapper.Argv("/s/job-1-1", ["/cg/cgroup.procs", "/dev/cg/cgroup.procs"], ["/s/job-1-1/script", "x"]);

        Assert.Equal(["/bin/sh", "-c", JobWrapper.Script, JobWrapper.ProcessName, "/s/job-1-1", "/cg/cgroup.procs:/dev/cg/cgroup.procs", "/s/job-1-1/script", "x"], argv);
    }
}
