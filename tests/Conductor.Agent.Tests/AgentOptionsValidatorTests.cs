using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class AgentOptionsValidatorTests
{
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
