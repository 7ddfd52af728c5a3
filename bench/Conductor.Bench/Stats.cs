using System.Globalization;
using System.Text;

namespace Conductor.Bench;

internal static class Stats
{
    /// <summary>The nearest-rank percentile (0..100) of the values.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyCollection<double> values) => Percentile(values, 50);

    public static string F(double value, int decimals = 2) =>
        double.IsNaN(value) ? "n/a" : value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    public static string I(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A plain text table for people, printed before the machine-readable RESULT line.</summary>
internal sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public void Add(params string[] cells) => _rows.Add(cells);

    public override string ToString()
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Count == 0 ? 0 : _rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells) =>
            sb.AppendLine(string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd());
        Line(headers);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in _rows)
        {
            Line(row);
        }

        return sb.ToString();
    }
}

/// <summary>The closing <c>RESULT key=value ...</c> line of every benchmark.</summary>
internal sealed class ResultLine
{
    private readonly List<string> _pairs = [];

    public ResultLine Add(string key, string value)
    {
        _pairs.Add($"{key}={value}");
        return this;
    }

    public ResultLine Add(string key, double value, int decimals = 2) => Add(key, Stats.F(value, decimals));

    public ResultLine Add(string key, long value) => Add(key, Stats.I(value));

    public override string ToString() => "RESULT " + string.Join(' ', _pairs);
}
