using System.Globalization;
using Conductor.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Conductor.Storage.Sqlite;

/// <summary>
/// The SQLite store: one database file in WAL mode, a pooled connection per operation, and every
/// read-modify-write in a <c>BEGIN IMMEDIATE</c> transaction so that concurrent writers queue on the
/// database's single write lock instead of failing half-way.
/// </summary>
public sealed partial class SqliteStore : IJobStore, INodeStore, ISchedulerStore, IAgentStore, IDisposable
{
    private readonly string _connectionString;
    private readonly string _connectionPragmas;
    private readonly string _databasePath;
    private readonly SemaphoreSlim _migrationLock = new(1, 1);
    private volatile bool _migrated;

    public SqliteStore(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DatabasePath);

        _databasePath = Path.GetFullPath(options.DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
        }.ToString();

        var busyMs = (long)Math.Clamp(options.BusyTimeout.TotalMilliseconds, 0, int.MaxValue);
        _connectionPragmas = string.Create(
            CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {busyMs}; PRAGMA synchronous = NORMAL;");
    }

    /// <summary>The schema version this code writes; a database at a later version is refused.</summary>
    public static int SchemaVersion => Schema.Migrations.Count;

    /// <summary>
    /// Creates or upgrades the schema and switches the file to WAL mode. Idempotent and safe to call from
    /// several processes at once; every other operation calls it on first use, so a host calls it at start
    /// only to fail early.
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

            var directory = Path.GetDirectoryName(_databasePath);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            await using var connection = await OpenRawAsync(ct).ConfigureAwait(false);

            // journal_mode is a property of the file and cannot change inside a transaction.
            await ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL;", ct).ConfigureAwait(false);

            await using var tx = connection.BeginTransaction(deferred: false);
            await ExecuteAsync(connection, tx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", ct)
                .ConfigureAwait(false);

            await using (var read = Command(connection, tx, "SELECT MAX(version) FROM schema_version;"))
            {
                var current = await read.ExecuteScalarAsync(ct).ConfigureAwait(false) is long v ? (int)v : 0;
                if (current > Schema.Migrations.Count)
                {
                    throw new InvalidOperationException(
                        $"The database '{_databasePath}' has schema version {current}, newer than this program's {Schema.Migrations.Count}.");
                }

                for (var version = current + 1; version <= Schema.Migrations.Count; version++)
                {
                    await ExecuteAsync(connection, tx, Schema.Migrations[version - 1], ct).ConfigureAwait(false);
                    await using var record = Command(connection, tx, "INSERT INTO schema_version (version) VALUES (@v);");
                    record.Parameters.AddWithValue("@v", version);
                    await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            _migrated = true;
        }
        finally
        {
            _migrationLock.Release();
        }
    }

    /// <summary>Closes the pooled connections to the file.</summary>
    public void Dispose()
    {
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        _migrationLock.Dispose();
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        if (!_migrated)
        {
            await MigrateAsync(ct).ConfigureAwait(false);
        }

        return await OpenRawAsync(ct).ConfigureAwait(false);
    }

    private async Task<SqliteConnection> OpenRawAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await ExecuteAsync(connection, null, _connectionPragmas, ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> in a BEGIN IMMEDIATE transaction and commits it.</summary>
    private async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);

        // Not deferred: BEGIN IMMEDIATE takes the write lock up front (waiting on busy_timeout), so the
        // reads inside the transaction can never be invalidated by another writer.
        await using var tx = connection.BeginTransaction(deferred: false);
        var result = await work(connection, tx).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>Runs <paramref name="work"/> in a read transaction, so that several queries see one snapshot.</summary>
    private async Task<T> ReadAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var result = await work(connection, tx).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }

    private static async Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction? tx, string sql, CancellationToken ct)
    {
        await using var command = Command(connection, tx, sql);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
