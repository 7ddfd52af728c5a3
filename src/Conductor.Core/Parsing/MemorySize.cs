using System.Globalization;

namespace Conductor.Core.Parsing;

/// <summary>
/// Slurm's memory sizes: a whole number with an optional unit K, M, G or T (case-insensitive);
/// no unit means MiB. Values are kept in MiB.
/// </summary>
public static class MemorySize
{
    /// <summary>The largest size accepted: 1 PiB.</summary>
    public const long MaxMiB = 1024L * 1024 * 1024;

    public static bool TryParseMiB(string? text, out long mib, out string error)
    {
        mib = 0;
        error = "";
        var s = text?.Trim() ?? "";
        if (s.Length == 0)
        {
            error = "is empty; use a whole number with an optional unit K, M, G or T, e.g. 16G or 512M";
            return false;
        }

        var unit = char.ToUpperInvariant(s[^1]);
        var digits = char.IsAsciiDigit(s[^1]) ? s : s[..^1];
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || digits.Length > 16)
        {
            error = $"'{s}' is not a memory size; use a whole number with an optional unit K, M, G or T, e.g. 16G or 512M";
            return false;
        }

        double value = char.IsAsciiDigit(unit) ? number : unit switch
        {
            'K' => Math.Ceiling(number / 1024.0),
            'M' => number,
            'G' => number * 1024.0,
            'T' => number * 1024.0 * 1024.0,
            _ => double.NaN,
        };

        if (double.IsNaN(value))
        {
            error = $"'{s}' has an unknown unit '{s[^1]}'; use K, M, G or T, e.g. 16G or 512M";
            return false;
        }

        if (value <= 0)
        {
            error = $"'{s}' must be more than zero";
            return false;
        }

        if (value > MaxMiB)
        {
            error = $"'{s}' is larger than 1P";
            return false;
        }

        mib = (long)value;
        return true;
    }

    public static long ParseMiB(string text) =>
        TryParseMiB(text, out var mib, out var error) ? mib : throw new FormatException($"Memory {error}.");

    /// <summary>Shows a size the way Slurm users write it: 16G, 512M.</summary>
    public static string Format(long mib) =>
        mib % (1024L * 1024) == 0 && mib > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{mib / (1024L * 1024)}T")
            : mib % 1024 == 0 && mib > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{mib / 1024}G")
                : string.Create(CultureInfo.InvariantCulture, $"{mib}M");
}
