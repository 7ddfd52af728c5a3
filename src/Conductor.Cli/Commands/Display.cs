using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Parsing;
using Conductor.Server.Api;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary>How the client commands print times, sizes and states.</summary>
public static class Display
{
    public static string Elapsed(JobView job) => TimeLimitFormat.FormatDuration(TimeSpan.FromSeconds(job.Time.ElapsedSeconds));

    /// <summary>CPU time as sacct prints TotalCPU: <c>MM:SS.mmm</c>, <c>HH:MM:SS</c> or <c>D-HH:MM:SS</c>.</summary>
    public static string CpuTime(double? seconds)
    {
        if (seconds is not { } s)
        {
            return "";
        }

        var t = TimeSpan.FromSeconds(Math.Max(0, s));
        return t.TotalHours >= 1
            ? TimeLimitFormat.FormatDuration(t)
            : string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes:00}:{t.Seconds:00}.{t.Milliseconds:000}");
    }

    /// <summary>A size in KiB as sacct prints MaxRSS, scaled: 812K, 45.2M, 3.1G.</summary>
    public static string Kib(long? kib)
    {
        if (kib is not { } k)
        {
            return "";
        }

        return k switch
        {
            < 1024 => string.Create(CultureInfo.InvariantCulture, $"{k}K"),
            < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{k / 1024.0:0.#}M"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{k / (1024.0 * 1024):0.##}G"),
        };
    }

    public static string Mib(long mib) => mib == 0 ? "0" : MemorySize.Format(mib);

    public static string Compact(string state) => JobStates.TryParse(state, out var s) ? s.ToCompactCode() : state;

    public static Style StateStyle(string state) => state switch
    {
        "RUNNING" => new Style(Color.Green),
        "PENDING" => new Style(Color.Yellow),
        "COMPLETED" => new Style(Color.Blue),
        "CANCELLED" => new Style(Color.Grey),
        _ => new Style(Color.Red),
    };

    /// <summary>NODELIST(REASON): the node of a running job, the reason of a pending one in parentheses.</summary>
    public static string NodeOrReason(JobView job) =>
        job.State == "PENDING" ? $"({job.Reason ?? "None"})" : job.Detail.NodeList;

    public static string Time(DateTimeOffset? t) =>
        t is { } v ? v.ToLocalTime().ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) : "Unknown";
}
