using Conductor.Storage.Relational;
using Microsoft.Extensions.DependencyInjection;

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
        return services.AddRelationalStore(sp => new SqliteStore(sp.GetRequiredService<SqliteStoreOptions>()));
    }
}
