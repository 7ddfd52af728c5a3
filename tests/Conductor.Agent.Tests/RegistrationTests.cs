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
        services.AddSingleton<IAgentStore, NullStore>();
        services.AddSingleton<INodeStore, NullStore>();
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
        Assert.NotNull(provider.GetRequiredService<JobRunner>());
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

    private sealed class NullStore : IAgentStore, INodeStore
    {
        public Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<Dispatch>>([]);

        public Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct) => Task.FromResult(true);

        public Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct) => Task.FromResult(FinishOutcome.Finished);

        public Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<NodeJob>>([]);

        public Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct) => Task.CompletedTask;

        public Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct) => Task.CompletedTask;

        public Task RegisterAsync(NodeRegistration node, DateTimeOffset now, CancellationToken ct) => Task.CompletedTask;

        public Task HeartbeatAsync(NodeName node, DateTimeOffset now, CancellationToken ct) => Task.CompletedTask;

        public Task<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<NodeRecord>>([]);
    }
}
