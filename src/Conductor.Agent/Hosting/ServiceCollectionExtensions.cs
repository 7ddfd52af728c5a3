using Conductor.Agent.Execution;
using Conductor.Agent.Monitoring;
using Conductor.Agent.Pipeline;
using Conductor.Agent.Processes;
using Conductor.Agent.Recovery;
using Conductor.Agent.Resources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Adds the node agent: <see cref="AgentService"/> and the <see cref="ProcessMonitor"/> as hosted services,
    /// the executor with its pipeline (logging, metrics and resource-monitoring steps, in that order), recovery with
    /// the default strategies, the resource tracker with its observers (logging, metrics, utilisation alert), the
    /// POSIX launcher and signal sender, and validated <see cref="AgentOptions"/> (checked on start). The caller
    /// registers <c>IAgentStore</c>, <c>INodeStore</c> and <c>IWakeBus</c>.
    /// </summary>
    public static IServiceCollection AddConductorAgent(this IServiceCollection services, Action<AgentOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<AgentOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IProcessLauncher, PosixProcessLauncher>();
        services.TryAddSingleton<ISignalSender, PosixSignalSender>();
        services.TryAddSingleton<ICgroupManager, CgroupManager>();
        services.TryAddSingleton<CpuMap>();
        services.TryAddSingleton<AgentResilience>();
        services.TryAddSingleton<AgentMetrics>();
        services.TryAddSingleton<CompletionOutbox>();
        services.TryAddSingleton<JobPipeline>();
        services.TryAddSingleton<JobExecutor>();
        services.TryAddSingleton<ResourceTracker>();
        services.TryAddSingleton<IRecoveryStrategy>(_ => CompositeRecoveryStrategy.Default());
        services.TryAddSingleton<RecoveryService>();

        services.AddJobExecutionStep<LoggingStep>();
        services.AddJobExecutionStep<MetricsStep>();
        services.AddJobExecutionStep<ResourceMonitoringStep>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IResourceObserver, LoggingResourceObserver>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IResourceObserver, MetricsResourceObserver>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IResourceObserver, UtilizationAlertObserver>());

        services.TryAddSingleton<ProcessMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<ProcessMonitor>());
        services.TryAddSingleton<AgentService>();
        services.AddHostedService(sp => sp.GetRequiredService<AgentService>());
        return services;
    }

    /// <summary>Adds a step to the pipeline every job runs through; steps run in the order they are added.</summary>
    public static IServiceCollection AddJobExecutionStep<TStep>(this IServiceCollection services)
        where TStep : class, IJobExecutionStep
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IJobExecutionStep, TStep>());
        return services;
    }
}
