using Microsoft.Data.Sqlite;

namespace Conductor.Storage.Sqlite;

/// <summary>SQLite's side of the column conversions: parameters and NULLs (the shared ones are in StoreValues).</summary>
internal static class SqlValues
{
    public static long ToMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static object ToMs(DateTimeOffset? time) => time is { } t ? t.ToUnixTimeMilliseconds() : DBNull.Value;

    public static object Db<T>(T? value)
        where T : struct => value is { } v ? v : DBNull.Value;

    public static object Db(string? value) => value is null ? DBNull.Value : value;

    public static SqliteParameter Add(this SqliteCommand command, string name)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        command.Parameters.Add(parameter);
        return parameter;
    }
}
