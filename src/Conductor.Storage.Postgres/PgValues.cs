using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Conductor.Core.Jobs;
using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

/// <summary>Conversions between domain values and their column representations.</summary>
internal static class PgValues
{
    public static long ToMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static long? ToMs(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();

    public static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public static string FormatCores(IReadOnlyList<int> cores)
    {
        var builder = new StringBuilder(cores.Count * 3);
        for (var i = 0; i < cores.Count; i++)
        {
            if (i > 0)
            {
                builder.Append(',');
            }

            builder.Append(cores[i].ToString(CultureInfo.InvariantCulture));
        }

        return builder.ToString();
    }

    public static IReadOnlyList<int> ParseCores(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return [];
        }

        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var cores = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            cores[i] = int.Parse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture);
        }

        return cores;
    }

    public static string FormatList(IReadOnlyList<string> items) => string.Join(',', items);

    public static IReadOnlyList<string> ParseList(string? text) =>
        string.IsNullOrEmpty(text) ? [] : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static string ToJson(IReadOnlyDictionary<string, string> environment) =>
        JsonSerializer.Serialize(new Dictionary<string, string>(environment, StringComparer.Ordinal), PgJsonContext.Default.DictionaryStringString);

    public static string ToJson(IReadOnlyList<string> arguments) =>
        JsonSerializer.Serialize(arguments.ToArray(), PgJsonContext.Default.StringArray);

    public static IReadOnlyDictionary<string, string> EnvironmentFromJson(string json)
    {
        var parsed = JsonSerializer.Deserialize(json, PgJsonContext.Default.DictionaryStringString);
        return parsed is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(parsed, StringComparer.Ordinal);
    }

    public static IReadOnlyList<string> ArgumentsFromJson(string json) =>
        JsonSerializer.Deserialize(json, PgJsonContext.Default.StringArray) ?? [];

    public static JobState ParseState(string text) =>
        JobStates.TryParse(text, out var state) ? state : throw new InvalidDataException($"Unknown job state '{text}' in the database.");

    public static ExitCode? ParseExitCode(string? text) => ExitCode.TryParse(text, out var code) ? code : null;

    /// <summary>Adds a typed parameter; a null value is sent as SQL NULL of that type.</summary>
    public static NpgsqlCommand With(this NpgsqlCommand command, string name, NpgsqlDbType type, object? value)
    {
        command.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        return command;
    }

    public static string? GetStringOrNull(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static int? GetInt32OrNull(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt32(ordinal);

    public static long? GetInt64OrNull(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    public static double? GetDoubleOrNull(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    public static DateTimeOffset? GetTimeOrNull(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : FromMs(reader.GetInt64(ordinal));
}

[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class PgJsonContext : JsonSerializerContext;
