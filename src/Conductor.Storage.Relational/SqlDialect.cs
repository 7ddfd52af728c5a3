using System.Data.Common;

namespace Conductor.Storage.Relational;

/// <summary>
/// What differs between the databases the <see cref="RelationalStore"/> runs on: how a connection is opened and a
/// transaction begun, the few SQL fragments that are spelt differently, and the column types of the schema.
/// Everything else (the statements, the guards, the mapping) is written once in the store.
/// </summary>
public abstract class SqlDialect : IDisposable
{
    /// <summary>Names the database in messages: a file path, or a database on a server.</summary>
    public abstract string DatabaseName { get; }

    /// <summary>Appended to a SELECT that reads rows it is about to change: a row lock, or nothing where one writer holds the whole database.</summary>
    public abstract string LockRows { get; }

    /// <summary>Appended to an ORDER BY of text so that names sort byte-wise on every database.</summary>
    public abstract string ByteOrder { get; }

    /// <summary>The FROM of the scheduler's scan of pending jobs (a database may need to be told to use the partial index).</summary>
    public abstract string PendingJobs { get; }

    /// <summary>The key column type of a table whose ids the database hands out.</summary>
    public abstract string IdentityKey { get; }

    /// <summary>The key column type of a table with at most one row per job, keyed by the job's id.</summary>
    public abstract string JobIdKey { get; }

    /// <summary>The column type of a JSON document (also the target of the CAST a JSON parameter is written with).</summary>
    public abstract string JsonType { get; }

    /// <summary>The column type of a flag.</summary>
    public abstract string BoolType { get; }

    /// <summary>The larger of two values.</summary>
    public abstract string Greatest(string left, string right);

    /// <summary>A partial index on <paramref name="keys"/> that also carries <paramref name="carried"/>, so that a scan never reads the table.</summary>
    public abstract string CoveringIndex(string name, string table, string keys, string carried, string where);

    /// <summary>
    /// Creates <c>job_changes</c>, the log of changes to pending jobs that the scheduler's pending set reads
    /// (<c>seq</c>, <c>xid</c>: the writing transaction's id where transactions may commit out of their order,
    /// <c>job_id</c>), and the triggers on <c>jobs</c> that write it: an insert of a pending job, a delete of one, an
    /// update of <paramref name="columns"/> of a job that is or was pending.
    /// </summary>
    public abstract string ChangeLogMigration(string columns);

    /// <summary>
    /// An expression of a read transaction: changes whose <c>xid</c> is below it are settled (their transactions have
    /// ended, so no change with a smaller position can appear later).
    /// </summary>
    public abstract string ChangeHorizon { get; }

    /// <summary>The condition on <c>job_changes</c> of the changes after the position (<c>@xid</c>, <c>@seq</c>).</summary>
    public virtual string ChangesAfter => "(xid, seq) > (@xid, @seq)";

    /// <summary>A query of a read transaction giving the position (xid, seq) below which every change is in that transaction's view.</summary>
    public abstract string ChangeMarkNow { get; }

    /// <summary>Opens a connection, ready for statements.</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>Begins a transaction for a read-modify-write.</summary>
    public abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct);

    /// <summary>Begins a transaction in which several queries see one snapshot.</summary>
    public abstract Task<DbTransaction> BeginReadAsync(DbConnection connection, CancellationToken ct);

    /// <summary>Opens the connection that migrates the schema (creating what the database needs first).</summary>
    public virtual Task<DbConnection> OpenForMigrationAsync(CancellationToken ct) => OpenAsync(ct);

    /// <summary>Begins the migration transaction, holding whatever keeps two processes from migrating at once.</summary>
    public virtual Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken ct) => BeginWriteAsync(connection, ct);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}
