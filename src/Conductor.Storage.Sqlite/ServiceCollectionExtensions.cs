using Conductor.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Conductor.Storage.Sqlite;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="SqliteStore"/> on <paramref name="databasePath"/> as every store interface, and a
    /// hosted service that migrates the schema when the host starts.
    /// </summary>
    public static IServiceCollection AddConductorSqliteStorage(this IServiceCollection services, string databasePath)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);

        services.AddSingleton(new SqliteStoreOptions { DatabasePath = databasePath });
        services.AddSingleton(sp => new SqliteStore(sp.GetRequiredService<SqliteStoreOptions>()));
        services.AddSingleton<IJobStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton<INodeStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton<ISchedulerStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton<IAgentStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton<IHistoryStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddHostedService<SqliteMigrationService>();
        return services;
    }
}

/// <summary>Migrates the schema at host start, so that a bad database file fails the start rather than the first request.</summary>
internal sealed class SqliteMigrationService(SqliteStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.MigrateAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
