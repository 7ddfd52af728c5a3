namespace Conductor.Storage.Sqlite;

/// <summary>Where the SQLite store keeps its data and how long a connection waits for the write lock.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>The path of the database file; its directory is created when missing.</summary>
    public required string DatabasePath { get; init; }

    /// <summary>How long a connection waits for another writer before failing with SQLITE_BUSY.</summary>
    public TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
