using System.Data.Common;
using System.Globalization;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

/// <summary>
/// The one store: every store interface over a relational database, written once against ADO.NET and a
/// <see cref="SqlDialect"/>. Every state write is a guarded <c>UPDATE ... WHERE state = expected</c>; every
/// read-modify-write runs in one transaction that first locks the rows it reads (a row lock, or the database's
/// single write lock); a single statement runs on its own. A backend derives from this only to name its dialect
/// and, where its database earns it, to take a faster path.
/// </summary>
public abstract partial class RelationalStore : IJobStore, INodeStore, ISchedulerStore, IAgentStore, IDisposable, IAsyncDisposable
{
    private readonly SemaphoreSlim _migrationLock = new(1, 1);
    private volatile bool _migrated;

    protected RelationalStore(SqlDialect dialect)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        Dialect = dialect;
    }

    /// <summary>The schema version this code writes; a database at a later version is refused.</summary>
    public static int SchemaVersion => Schema.Version;

    protected SqlDialect Dialect { get; }

    /// <summary>
    /// Creates or upgrades the schema. Idempotent and safe to call from several processes at once (the dialect's
    /// migration transaction keeps two from migrating together). Every other operation calls it on first use, so
    /// a host calls it at start only to fail early.
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

            await using var connection = await Dialect.OpenForMigrationAsync(ct).ConfigureAwait(false);
            await using var tx = await Dialect.BeginMigrationAsync(connection, ct).ConfigureAwait(false);
            await ExecuteAsync(connection, tx, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);", ct).ConfigureAwait(false);

            int current;
            await using (var read = Command(connection, tx, "SELECT COALESCE(MAX(version), 0) FROM schema_version;"))
            {
                current = Convert.ToInt32(await read.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }

            if (current > Schema.Version)
            {
                throw new InvalidOperationException(
                    $"The database '{Dialect.DatabaseName}' has schema version {current}, newer than this program's {Schema.Version}.");
            }

            for (var version = current + 1; version <= Schema.Version; version++)
            {
                await ExecuteAsync(connection, tx, Schema.Migration(version, Dialect), ct).ConfigureAwait(false);
                await using var record = Command(connection, tx, "INSERT INTO schema_version (version) VALUES (@v);").With("v", version);
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
        Dialect.Dispose();
        _migrationLock.Dispose();
        GC.SuppressFinalize(this);
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    protected async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        if (!_migrated)
        {
            await MigrateAsync(ct).ConfigureAwait(false);
        }

        return await Dialect.OpenAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="work"/> in a write transaction and commits it.</summary>
    protected Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct) =>
        InTransactionAsync(Dialect.BeginWriteAsync, work, ct);

    /// <summary>Runs <paramref name="work"/> in a read transaction, so that several queries see one snapshot.</summary>
    protected Task<T> ReadAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct) =>
        InTransactionAsync(Dialect.BeginReadAsync, work, ct);

    private async Task<T> InTransactionAsync<T>(
        Func<DbConnection, CancellationToken, Task<DbTransaction>> begin, Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await begin(connection, ct).ConfigureAwait(false);
        var result = await work(connection, tx).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>Runs one statement on its own (a single statement is atomic) and returns the rows it changed.</summary>
    private async Task<int> ExecuteAsync(string sql, Action<DbCommand> bind, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, sql);
        bind(command);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Runs one query on its own and maps every row.</summary>
    private async Task<List<T>> QueryAsync<T>(string sql, Action<DbCommand> bind, Func<DbDataReader, T> map, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, sql);
        bind(command);
        return await ReadAllAsync(command, map, ct).ConfigureAwait(false);
    }

    private static async Task<List<T>> ReadAllAsync<T>(DbCommand command, Func<DbDataReader, T> map, CancellationToken ct)
    {
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    protected static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction? tx, string sql, CancellationToken ct)
    {
        await using var command = Command(connection, tx, sql);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static void None(DbCommand command)
    {
    }
}
