using Conductor.Core.Storage;
using Conductor.Server.Charts;

namespace Conductor.EndToEnd.Tests;

/// <summary>The charts' columns built from per-minute samples (pure code, no server).</summary>
public sealed class ChartSeriesTests
{
    private static readonly DateTimeOffset From = DateTimeOffset.Parse("2026-03-01T10:00:00Z");

    private static ClusterSample At(int minute, int allocated, int started, double? wait) =>
        new(From.AddMinutes(minute), 8, allocated, null, null, 2, allocated, started, started, wait);

    [Fact]
    public void Build_GivesAnHourOneNullablePointAMinute_AndLeavesGapsWhereNothingWasSampled()
    {
        var series = ChartSeries.Build(ChartRange.Hour, From, [At(0, 2, 3, 1.5), At(2, 4, 0, null), At(60, 8, 9, 9)]);

        Assert.Equal(60, series.Time.Count);
        Assert.Equal(60, series.StepSeconds);
        Assert.Equal(From.ToUnixTimeSeconds(), series.Time[0]);
        Assert.Equal([2.0, null, 4.0], series.CpusAllocated.Take(3));
        Assert.Equal([3.0, null, 0.0], series.StartedPerMinute.Take(3));
        Assert.Equal([1.5, null, null], series.MedianWaitSeconds.Take(3));
        Assert.All(series.CpusTotal.Skip(3), Assert.Null);
        Assert.Null(series.GpusTotal);
    }

    [Fact]
    public void Build_AveragesTenMinutesIntoAWeeksPoint_AndTakesTheMedianOfTheirWaits()
    {
        var samples = Enumerable.Range(0, 10).Select(m => At(m, allocated: m, started: m % 2 == 0 ? 4 : 0, wait: m < 3 ? m * 10 : null)).ToList();
        var series = ChartSeries.Build(ChartRange.Week, From, samples);

        Assert.Equal(7 * 24 * 6, series.Time.Count);
        Assert.Equal(600, series.StepSeconds);
        Assert.Equal(4.5, series.CpusAllocated[0]);
        Assert.Equal(2.0, series.StartedPerMinute[0]);
        Assert.Equal(10.0, series.MedianWaitSeconds[0]);
        Assert.Null(series.CpusAllocated[1]);
    }

    [Fact]
    public void Build_HasGpuSeries_OnceASampleCountsGpus()
    {
        var series = ChartSeries.Build(ChartRange.Hour, From, [At(0, 1, 0, null) with { GpusTotal = 4, GpusAllocated = 1 }, At(1, 1, 0, null)]);
        Assert.Equal([4.0, null], series.GpusTotal!.Take(2));
        Assert.Equal([1.0, null], series.GpusAllocated!.Take(2));
    }

    [Fact]
    public void MinuteOf_DropsSecondsAndBelow()
    {
        Assert.Equal(From.AddMinutes(3), ChartSeries.MinuteOf(From.AddMinutes(3).AddSeconds(59.9)));
    }
}
