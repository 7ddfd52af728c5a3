using Conductor.Core.Hosting;
using Conductor.Core.Signals;
using Conductor.Storage.Relational;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Conductor.Storage.Postgres;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="PostgresStore"/> on <paramref name="connectionString"/> as every store interface,
    /// and a hosted service that migrates the schema when the host starts. An invalid connection string fails here.
    /// </summary>
    public static IServiceCollection AddConductorPostgresStorage(this IServiceCollection services, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(services);
        PostgresStoreOptions.Parse(connectionString);

        services.AddSingleton(new PostgresStoreOptions { ConnectionString = connectionString });
        return services.AddRelationalStore(sp => new PostgresStore(sp.GetRequiredService<PostgresStoreOptions>()));
    }

    /// <summary>
    /// Registers <see cref="PostgresWakeBus"/> as the <see cref="IWakeBus"/> and runs its listener with the host.
    /// Uses the connection string registered by <see cref="AddConductorPostgresStorage"/>, which must come first.
    /// </summary>
    public static IServiceCollection AddConductorPostgresWakeBus(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(PostgresStoreOptions)))
        {
            throw new InvalidOperationException("AddConductorPostgresWakeBus needs the connection string of AddConductorPostgresStorage; call that first.");
        }

        services.AddSingleton<PostgresWakeBus>();
        services.AddSingleton<IWakeBus>(sp => sp.GetRequiredService<PostgresWakeBus>());
        services.AddHostedService(sp => sp.GetRequiredService<PostgresWakeBus>());
        return services;
    }

    /// <summary>
    /// Registers <see cref="PostgresLeaderElection"/> as the <see cref="ILeadership"/> and runs it with the host, so
    /// that one of the servers sharing the database holds the scheduler role. Needs <see cref="AddConductorPostgresStorage"/> first.
    /// </summary>
    public static IServiceCollection AddConductorPostgresLeaderElection(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(PostgresStoreOptions)))
        {
            throw new InvalidOperationException("AddConductorPostgresLeaderElection needs the connection string of AddConductorPostgresStorage; call that first.");
        }

        services.AddSingleton<PostgresLeaderElection>(sp => new PostgresLeaderElection(
            sp.GetRequiredService<PostgresStoreOptions>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<Microsoft.Extensions.Logging.ILogger<PostgresLeaderElection>>()));
        services.AddSingleton<ILeadership>(sp => sp.GetRequiredService<PostgresLeaderElection>());
        services.AddHostedService(sp => sp.GetRequiredService<PostgresLeaderElection>());
        return services;
    }
}
