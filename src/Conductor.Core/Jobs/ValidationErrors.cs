namespace Conductor.Core.Jobs;

/// <summary>Field-level validation messages, keyed by the field's wire name (snake_case).</summary>
public sealed class ValidationErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool IsEmpty => _errors.Count == 0;

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
    }

    public IDictionary<string, string[]> ToDictionary(string prefix = "") =>
        _errors.ToDictionary(kv => prefix + kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);

    /// <summary>One sentence naming the first problem, for a CLI or a log line.</summary>
    public string Summary() =>
        _errors.Count == 0 ? "" : string.Join("; ", _errors.Select(kv => $"{kv.Key} {kv.Value[0]}")) + ".";
}
