using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class SignalNamesTests
{
    [Theory]
    [InlineData(9, "SIGKILL")]
    [InlineData(15, "SIGTERM")]
    [InlineData(13, "SIGPIPE")]
    [InlineData(36, "SIGRTMIN+2")]
    public void Name_ReturnsLinuxName_WhenSignalIsKnown(int signal, string name)
    {
        Assert.Equal(name, SignalNames.Name(signal));
    }
}
