using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Tests;

public sealed class RegistrationTests
{
    private static ServiceProvider Build(Action<AgentOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var store = new RecordingStore();
        services.AddSingleton<IAgentStore>(store);
        services.AddSingleton<INodeStore>(store);
        services.AddSingleton<IWakeBus, InProcessWakeBus>();
        services.AddConductorAgent(configure);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void AddConductorAgent_RegistersAgentParts_WhenOptionsAreValid()
    {
        using var provider = Build(o =>
        {
            o.NodeName = "node7";
            o.ScriptsDirectory = "/var/lib/conductor/scripts";
        });

        Assert.IsType<PosixProcessLauncher>(provider.GetRequiredService<IProcessLauncher>());
        Assert.IsType<PosixSignalSender>(provider.GetRequiredService<ISignalSender>());
        Assert.NotNull(provider.GetRequiredService<JobExecutor>());
        Assert.Contains(provider.GetServices<IHostedService>(), s => s is Conductor.Agent.Monitoring.ProcessMonitor);
        Assert.Contains(provider.GetServices<IHostedService>(), s => s is AgentService);
        Assert.Equal("node7", provider.GetRequiredService<IOptions<AgentOptions>>().Value.NodeName);
    }

    [Fact]
    public void AddConductorAgent_RejectsOptions_WhenScriptsDirectoryIsMissing()
    {
        using var provider = Build(o => o.NodeName = "node7");

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AgentOptions>>().Value);
        Assert.Contains("ScriptsDirectory", error.Message, StringComparison.Ordinal);
    }
}
