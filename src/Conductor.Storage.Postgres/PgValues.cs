using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

/// <summary>PostgreSQL's side of the column conversions: typed parameters (the shared ones are in StoreValues).</summary>
internal static class PgValues
{
    public static long ToMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static long? ToMs(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();

    /// <summary>Adds a typed parameter; a null value is sent as SQL NULL of that type.</summary>
    public static NpgsqlCommand With(this NpgsqlCommand command, string name, NpgsqlDbType type, object? value)
    {
        command.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        return command;
    }
}
