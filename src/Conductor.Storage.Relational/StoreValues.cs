using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Conductor.Core.Jobs;

namespace Conductor.Storage.Relational;

/// <summary>How both stores write domain values into columns and read them back.</summary>
public static class StoreValues
{
    public static long ToMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

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
        JsonSerializer.Serialize(new Dictionary<string, string>(environment, StringComparer.Ordinal), StoreJsonContext.Default.DictionaryStringString);

    public static string ToJson(IReadOnlyList<string> arguments) =>
        JsonSerializer.Serialize(arguments.ToArray(), StoreJsonContext.Default.StringArray);

    public static IReadOnlyDictionary<string, string> EnvironmentFromJson(string json)
    {
        var parsed = JsonSerializer.Deserialize(json, StoreJsonContext.Default.DictionaryStringString);
        return parsed is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(parsed, StringComparer.Ordinal);
    }

    public static IReadOnlyList<string> ArgumentsFromJson(string json) =>
        JsonSerializer.Deserialize(json, StoreJsonContext.Default.StringArray) ?? [];

    public static JobState ParseState(string text) =>
        JobStates.TryParse(text, out var state) ? state : throw new InvalidDataException($"Unknown job state '{text}' in the database.");

    public static ExitCode? ParseExitCode(string? text) => ExitCode.TryParse(text, out var code) ? code : null;

    /// <summary>The detail of a job's finished event.</summary>
    public static string FinishedDetail(JobState state, ExitCode exitCode, string? error) =>
        error is null
            ? $"state={state.ToSlurmName()} exit={exitCode}"
            : $"state={state.ToSlurmName()} exit={exitCode} error={error}";
}

/// <summary>Typed reads of nullable columns, for any ADO.NET reader.</summary>
public static class DataReaderExtensions
{
    public static string? GetStringOrNull(this DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static int? GetInt32OrNull(this DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : Convert.ToInt32(reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    public static long? GetInt64OrNull(this DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    public static double? GetDoubleOrNull(this DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    public static DateTimeOffset? GetTimeOrNull(this DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : StoreValues.FromMs(reader.GetInt64(ordinal));
}

[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
