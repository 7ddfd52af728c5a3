using Conductor.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Conductor.Storage.Relational;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <typeparamref name="TStore"/> as every store interface, and a hosted service that migrates the
    /// schema when the host starts, so that a bad or newer database fails the start rather than the first request.
    /// </summary>
    public static IServiceCollection AddRelationalStore<TStore>(this IServiceCollection services, Func<IServiceProvider, TStore> create)
        where TStore : RelationalStore
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(create);
        services.AddSingleton<RelationalStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IJobStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<INodeStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<ISchedulerStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IAgentStore>(sp => sp.GetRequiredService<TStore>());
        services.AddHostedService<MigrationService>();
        return services;
    }
}

/// <summary>Migrates the schema at host start.</summary>
internal sealed class MigrationService(RelationalStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.MigrateAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
