using System.Globalization;

namespace Conductor.Bench;

/// <summary>Minimal <c>--name value</c> option parsing; every benchmark states its defaults.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public Options(IEnumerable<string> args)
    {
        string? name = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (name is not null)
                {
                    _values[name] = "true";
                }

                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    _values[arg[2..eq]] = arg[(eq + 1)..];
                    name = null;
                }
                else
                {
                    name = arg[2..];
                }
            }
            else if (name is not null)
            {
                _values[name] = arg;
                name = null;
            }
            else
            {
                throw new ArgumentException($"unexpected argument '{arg}'");
            }
        }

        if (name is not null)
        {
            _values[name] = "true";
        }
    }

    public int Int(string name, int fallback) =>
        Get(name) is { } v ? int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture) : fallback;

    public string? String(string name) => Get(name);

    public bool Flag(string name) => Get(name) is { } v && v != "false";

    public IReadOnlyList<int> Ints(string name, IReadOnlyList<int> fallback) =>
        Get(name) is { } v
            ? v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToList()
            : fallback;

    /// <summary>Fails on options that no benchmark asked for, so that a typo does not pass silently.</summary>
    public void ThrowOnUnknown()
    {
        var unknown = _values.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }

    private string? Get(string name)
    {
        _read.Add(name);
        return _values.TryGetValue(name, out var v) ? v : null;
    }
}
