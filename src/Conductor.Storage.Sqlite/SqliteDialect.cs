using System.Data.Common;
using System.Globalization;
using Conductor.Storage.Relational;
using Microsoft.Data.Sqlite;

namespace Conductor.Storage.Sqlite;

/// <summary>
/// SQLite's side: one database file in WAL mode, a pooled connection per operation, and every read-modify-write
/// in a <c>BEGIN IMMEDIATE</c> transaction, so that concurrent writers queue on the file's single write lock (which
/// is also why no row is locked) instead of failing half-way.
/// </summary>
internal sealed class SqliteDialect : SqlDialect
{
    private readonly string _connectionString;
    private readonly string _pragmas;
    private readonly string _path;

    public SqliteDialect(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DatabasePath);

        _path = Path.GetFullPath(options.DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
        }.ToString();

        var busyMs = (long)Math.Clamp(options.BusyTimeout.TotalMilliseconds, 0, int.MaxValue);
        _pragmas = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {busyMs}; PRAGMA synchronous = NORMAL;");
    }

    public override string DatabaseName => _path;

    public override string LockRows => "";

    // SQLite compares text byte-wise (BINARY) unless told otherwise.
    public override string ByteOrder => "";

    // The planner would rather take ix_jobs_state, which does not carry the columns the scan reads.
    public override string PendingJobs => "jobs INDEXED BY ix_jobs_pending";

    // Exactly this spelling makes the column the rowid.
    public override string IdentityKey => "INTEGER PRIMARY KEY AUTOINCREMENT";

    // The job's id is the rowid of its one row: no second index.
    public override string JobIdKey => "INTEGER PRIMARY KEY";

    public override string JsonType => "text";

    public override string BoolType => "integer";

    public override string Greatest(string left, string right) => $"MAX({left}, {right})";

    public override string CoveringIndex(string name, string table, string keys, string carried, string where) =>
        $"CREATE INDEX {name} ON {table} ({keys}, {carried}) WHERE {where}";

    public override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var pragmas = connection.CreateCommand();
            pragmas.CommandText = _pragmas;
            await pragmas.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // Not deferred: BEGIN IMMEDIATE takes the write lock up front (waiting on busy_timeout), so the reads inside
    // the transaction can never be invalidated by another writer.
    public override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public override Task<DbTransaction> BeginReadAsync(DbConnection connection, CancellationToken ct) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: true));

    /// <summary>Creates the file's directory, and switches the file to WAL (a property of the file, set outside any transaction).</summary>
    public override async Task<DbConnection> OpenForMigrationAsync(CancellationToken ct)
    {
        var directory = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var wal = connection.CreateCommand();
        wal.CommandText = "PRAGMA journal_mode = WAL;";
        await wal.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return connection;
    }

    protected override void Dispose(bool disposing)
    {
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        base.Dispose(disposing);
    }
}
