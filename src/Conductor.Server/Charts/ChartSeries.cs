using Conductor.Core.Storage;

namespace Conductor.Server.Charts;

/// <summary>The spans the charts offer, with the width of one point: a minute for an hour or a day, ten for a week.</summary>
public enum ChartRange
{
    Hour,
    Day,
    Week,
}

/// <summary>
/// The charts' data in columns, as uPlot draws it: one time axis (unix seconds, the start of each point) and one
/// array per series, null where nothing was sampled (the server was down). A point wider than a minute averages
/// the minutes it holds (per-minute rates too) and takes the median of their median waits.
/// </summary>
public sealed record ChartSeries(
    string Range,
    int StepSeconds,
    IReadOnlyList<long> Time,
    IReadOnlyList<double?> CpusTotal,
    IReadOnlyList<double?> CpusAllocated,
    IReadOnlyList<double?>? GpusTotal,
    IReadOnlyList<double?>? GpusAllocated,
    IReadOnlyList<double?> Pending,
    IReadOnlyList<double?> Running,
    IReadOnlyList<double?> StartedPerMinute,
    IReadOnlyList<double?> FinishedPerMinute,
    IReadOnlyList<double?> MedianWaitSeconds)
{
    public static TimeSpan SpanOf(ChartRange range) => range switch
    {
        ChartRange.Hour => TimeSpan.FromHours(1),
        ChartRange.Day => TimeSpan.FromDays(1),
        _ => TimeSpan.FromDays(7),
    };

    public static TimeSpan StepOf(ChartRange range) => range == ChartRange.Week ? TimeSpan.FromMinutes(10) : TimeSpan.FromMinutes(1);

    /// <summary>The start of the minute <paramref name="time"/> falls in.</summary>
    public static DateTimeOffset MinuteOf(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);

    /// <summary>
    /// Buckets the samples of [<paramref name="from"/>, <paramref name="from"/> + span of <paramref name="range"/>)
    /// into points of the range's step. GPU series are null (absent) when no sample has GPUs.
    /// </summary>
    public static ChartSeries Build(ChartRange range, DateTimeOffset from, IReadOnlyList<ClusterSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var step = StepOf(range);
        var points = (int)(SpanOf(range) / step);
        var buckets = new List<ClusterSample>[points];
        foreach (var s in samples)
        {
            var index = (int)Math.Floor((s.Minute - from) / step);
            if (index >= 0 && index < points)
            {
                (buckets[index] ??= []).Add(s);
            }
        }

        var hasGpus = samples.Any(s => s.GpusTotal is not null);
        double? Avg(List<ClusterSample>? b, Func<ClusterSample, double?> f)
        {
            var values = b?.Select(f).Where(v => v is not null).Select(v => v!.Value).ToList();
            return values is { Count: > 0 } ? Math.Round(values.Average(), 2) : null;
        }

        double? Median(List<ClusterSample>? b)
        {
            var values = b?.Where(s => s.MedianWaitSeconds is not null).Select(s => s.MedianWaitSeconds!.Value).Order().ToList();
            return values is not { Count: > 0 } ? null
                : Math.Round(values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2, 3);
        }

        var column = (Func<ClusterSample, double?> f) => buckets.Select(b => Avg(b, f)).ToList();
        return new ChartSeries(
            range.ToString().ToLowerInvariant(),
            (int)step.TotalSeconds,
            Enumerable.Range(0, points).Select(i => (from + (step * i)).ToUnixTimeSeconds()).ToList(),
            column(s => s.CpusTotal),
            column(s => s.CpusAllocated),
            hasGpus ? column(s => s.GpusTotal) : null,
            hasGpus ? column(s => s.GpusAllocated) : null,
            column(s => s.Pending),
            column(s => s.Running),
            column(s => s.Started),
            column(s => s.Finished),
            buckets.Select(Median).ToList());
    }
}
