using System.Globalization;

namespace Conductor.Core.Parsing;

/// <summary>
/// Slurm's time formats. A limit is a <see cref="TimeSpan"/>; <c>null</c> means UNLIMITED.
/// Accepted: <c>MM</c>, <c>MM:SS</c>, <c>HH:MM:SS</c>, <c>D-HH</c>, <c>D-HH:MM</c>, <c>D-HH:MM:SS</c>,
/// <c>UNLIMITED</c>/<c>INFINITE</c>; <c>0</c> means no limit, as in Slurm.
/// Note that <c>2:30</c> is two minutes and thirty seconds (Slurm), not two and a half hours.
/// </summary>
public static class TimeLimitFormat
{
    public const string Unlimited = "UNLIMITED";

    /// <summary>The longest limit accepted (Slurm's own ceiling is about 68 years; a year is plenty here).</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(365);

    public static bool TryParse(string? text, out TimeSpan? limit, out string error)
    {
        limit = null;
        error = "";
        var s = text?.Trim() ?? "";
        if (s.Length == 0)
        {
            error = "is empty; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED";
            return false;
        }

        if (s.Equals(Unlimited, StringComparison.OrdinalIgnoreCase) || s.Equals("INFINITE", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        long days = 0;
        var rest = s;
        var dash = s.IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0)
        {
            if (!TryNumber(s[..dash], out days))
            {
                return Fail(s, out error);
            }

            rest = s[(dash + 1)..];
        }

        var parts = rest.Split(':');
        var numbers = new long[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!TryNumber(parts[i], out numbers[i]))
            {
                return Fail(s, out error);
            }
        }

        long seconds;
        if (dash >= 0)
        {
            // D-HH, D-HH:MM, D-HH:MM:SS
            seconds = parts.Length switch
            {
                1 => days * 86400 + numbers[0] * 3600,
                2 => days * 86400 + numbers[0] * 3600 + numbers[1] * 60,
                3 => days * 86400 + numbers[0] * 3600 + numbers[1] * 60 + numbers[2],
                _ => -1,
            };
        }
        else
        {
            // MM, MM:SS, HH:MM:SS
            seconds = parts.Length switch
            {
                1 => numbers[0] * 60,
                2 => numbers[0] * 60 + numbers[1],
                3 => numbers[0] * 3600 + numbers[1] * 60 + numbers[2],
                _ => -1,
            };
        }

        if (seconds < 0)
        {
            return Fail(s, out error);
        }

        if (seconds > Max.TotalSeconds)
        {
            error = $"'{s}' is longer than the maximum of {Format(Max)}";
            return false;
        }

        limit = seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
        return true;
    }

    public static TimeSpan? Parse(string text) =>
        TryParse(text, out var limit, out var error) ? limit : throw new FormatException($"Time limit {error}.");

    /// <summary>Slurm's display: <c>M:SS</c>, <c>H:MM:SS</c> or <c>D-HH:MM:SS</c> as squeue prints TIME.</summary>
    public static string FormatDuration(TimeSpan t)
    {
        if (t < TimeSpan.Zero)
        {
            t = TimeSpan.Zero;
        }

        var total = (long)t.TotalSeconds;
        var d = total / 86400;
        var h = total / 3600 % 24;
        var m = total / 60 % 60;
        var sec = total % 60;
        return d > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{d}-{h:00}:{m:00}:{sec:00}")
            : h > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{h}:{m:00}:{sec:00}")
                : string.Create(CultureInfo.InvariantCulture, $"{m}:{sec:00}");
    }

    /// <summary>A limit as SCNS-Conductor printed <c>limit_time</c>: <c>H:MM:SS</c>, <c>D-HH:MM:SS</c> or UNLIMITED.</summary>
    public static string Format(TimeSpan? limit)
    {
        if (limit is not { } t)
        {
            return Unlimited;
        }

        var total = (long)t.TotalSeconds;
        var d = total / 86400;
        var h = total / 3600 % 24;
        var m = total / 60 % 60;
        var sec = total % 60;
        return d > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{d}-{h:00}:{m:00}:{sec:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{h}:{m:00}:{sec:00}");
    }

    /// <summary>Elapsed time as SCNS-Conductor printed it: always <c>D-HH:MM:SS</c>.</summary>
    public static string FormatElapsed(TimeSpan t)
    {
        if (t < TimeSpan.Zero)
        {
            t = TimeSpan.Zero;
        }

        var total = (long)t.TotalSeconds;
        return string.Create(CultureInfo.InvariantCulture,
            $"{total / 86400}-{total / 3600 % 24:00}:{total / 60 % 60:00}:{total % 60:00}");
    }

    private static bool TryNumber(string s, out long value) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value) && s.Length <= 9;

    private static bool Fail(string s, out string error)
    {
        error = $"'{s}' is not a time limit; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED";
        return false;
    }
}
