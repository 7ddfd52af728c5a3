using Conductor.Agent.Execution;
using Conductor.Agent.Processes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Adds the node agent: <see cref="AgentService"/> as a hosted service, <see cref="JobRunner"/>, the POSIX
    /// launcher and signal sender, and validated <see cref="AgentOptions"/> (checked on start). The caller
    /// registers <c>IAgentStore</c>, <c>INodeStore</c> and <c>IWakeBus</c>, and may bind the options with
    /// <c>services.AddOptions&lt;AgentOptions&gt;().BindConfiguration(AgentOptions.SectionName)</c>.
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
        services.TryAddSingleton<JobRunner>();
        services.AddHostedService<AgentService>();
        return services;
    }
}
