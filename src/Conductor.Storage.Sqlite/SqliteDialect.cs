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

    public override string ChangeLogMigration(string columns) => $"""
        CREATE TABLE job_changes (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            xid     integer NOT NULL DEFAULT 0,
            job_id  integer NOT NULL
        );
        CREATE INDEX ix_job_changes_order ON job_changes (xid, seq);
        CREATE TRIGGER tr_jobs_inserted AFTER INSERT ON jobs FOR EACH ROW WHEN NEW.state = 'PENDING'
        BEGIN INSERT INTO job_changes (job_id) VALUES (NEW.id); END;
        CREATE TRIGGER tr_jobs_updated AFTER UPDATE OF {columns} ON jobs FOR EACH ROW WHEN OLD.state = 'PENDING' OR NEW.state = 'PENDING'
        BEGIN INSERT INTO job_changes (job_id) VALUES (NEW.id); END;
        CREATE TRIGGER tr_jobs_deleted AFTER DELETE ON jobs FOR EACH ROW WHEN OLD.state = 'PENDING'
        BEGIN INSERT INTO job_changes (job_id) VALUES (OLD.id); END;
        """;

    // One writer at a time holds the whole file: changes commit in the order of their sequence numbers.
    public override string ChangeHorizon => "9223372036854775807";

    // xid is always 0 here; the sequence alone is a range on the primary key.
    public override string ChangesAfter => "seq > @seq";

    public override string ChangeMarkNow => "SELECT 0, COALESCE(MAX(seq), 0) FROM job_changes";

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
