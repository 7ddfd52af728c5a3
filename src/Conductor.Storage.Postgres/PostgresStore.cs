using Conductor.Core.Storage;
using Npgsql;

namespace Conductor.Storage.Postgres;

/// <summary>
/// The PostgreSQL store: a pooled <see cref="NpgsqlDataSource"/>, every state write a guarded
/// <c>UPDATE ... WHERE state = expected</c>, and every read-modify-write a READ COMMITTED transaction that locks
/// the rows it reads with <c>SELECT ... FOR UPDATE</c>. Several servers and agents may share one database.
/// </summary>
public sealed partial class PostgresStore : IJobStore, INodeStore, ISchedulerStore, IAgentStore, IDisposable, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly SemaphoreSlim _migrationLock = new(1, 1);
    private volatile bool _migrated;

    public PostgresStore(PostgresStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = PostgresStoreOptions.Parse(options.ConnectionString);
        _dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
    }

    /// <summary>The schema version this code writes; a database at a later version is refused.</summary>
    public static int SchemaVersion => Schema.Migrations.Count;

    /// <summary>
    /// Creates or upgrades the schema. Idempotent and safe to call from several processes at once: the migration
    /// transaction first takes a transaction-scoped advisory lock, so exactly one of them applies each version.
    /// Every other operation calls it on first use, so a host calls it at start only to fail early.
    /// </summary>
    public async Task MigrateAsync(CancellationToken ct = default)
    {
        if (_migrated)
        {
            return;
        }

        await _migrationLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_migrated)
            {
                return;
            }

            await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct).ConfigureAwait(false);
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key);", connection, tx))
            {
                lockCommand.Parameters.AddWithValue("key", Schema.MigrationLockKey);
                await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await ExecuteAsync(connection, tx, """
                CREATE TABLE IF NOT EXISTS schema_version (
                    version     integer PRIMARY KEY,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                );
                """, ct).ConfigureAwait(false);

            int current;
            await using (var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_version;", connection, tx))
            {
                current = Convert.ToInt32(await read.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            }

            if (current > Schema.Migrations.Count)
            {
                throw new InvalidOperationException(
                    $"The database '{connection.Database}' has schema version {current}, newer than this program's {Schema.Migrations.Count}.");
            }

            for (var version = current + 1; version <= Schema.Migrations.Count; version++)
            {
                await ExecuteAsync(connection, tx, Schema.Migrations[version - 1], ct).ConfigureAwait(false);
                await using var record = new NpgsqlCommand("INSERT INTO schema_version (version) VALUES (@v);", connection, tx);
                record.Parameters.AddWithValue("v", version);
                await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            _migrated = true;
        }
        finally
        {
            _migrationLock.Release();
        }
    }

    /// <summary>Closes the pooled connections.</summary>
    public void Dispose()
    {
        _dataSource.Dispose();
        _migrationLock.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _migrationLock.Dispose();
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        if (!_migrated)
        {
            await MigrateAsync(ct).ConfigureAwait(false);
        }

        return await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="work"/> in a READ COMMITTED transaction and commits it.</summary>
    private async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct).ConfigureAwait(false);
        var result = await work(connection, tx).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>Runs <paramref name="work"/> in a read-only REPEATABLE READ transaction, so that several queries see one snapshot.</summary>
    private async Task<T> ReadAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        var result = await work(connection, tx).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql) => new(sql, connection, tx);

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken ct)
    {
        await using var command = Command(connection, tx, sql);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
