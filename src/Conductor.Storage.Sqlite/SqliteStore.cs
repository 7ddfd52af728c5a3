using Conductor.Storage.Relational;

namespace Conductor.Storage.Sqlite;

/// <summary>The relational store on one SQLite file (see <see cref="SqliteDialect"/>).</summary>
public sealed class SqliteStore(SqliteStoreOptions options) : RelationalStore(new SqliteDialect(options));
