using Conductor.Core.Storage;
using Conductor.Server.Api;

namespace Conductor.Server.Charts;

/// <summary><c>GET /api/v1/charts?range=hour|day|week</c>: the cluster over time, in columns, with the minute under way last.</summary>
public static class ChartsEndpoints
{
    public static RouteGroupBuilder MapChartsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/charts", GetAsync)
            .WithTags("Dashboard")
            .WithSummary("CPUs (and GPUs) allocated and total, pending and running jobs, starts and ends per minute, median wait; range hour, day or week");
        return api;
    }

    private static async Task<IResult> GetAsync(string? range, IHistoryStore history, ClusterSampler sampler, TimeProvider time, CancellationToken ct)
    {
        ChartRange chart;
        switch (range?.ToLowerInvariant())
        {
            case null or "" or "hour":
                chart = ChartRange.Hour;
                break;
            case "day":
                chart = ChartRange.Day;
                break;
            case "week":
                chart = ChartRange.Week;
                break;
            default:
                return Problems.Validation("Unknown range.", "range", "must be 'hour', 'day' or 'week'");
        }

        var now = time.GetUtcNow();
        var current = ChartSeries.MinuteOf(now);
        var step = ChartSeries.StepOf(chart);
        var end = new DateTimeOffset(current.UtcTicks - (current.UtcTicks % step.Ticks), TimeSpan.Zero) + step;
        var from = end - ChartSeries.SpanOf(chart);
        var samples = (await history.ListSamplesAsync(from, current, ct)).ToList();

        // The minute just ended is stored a moment after its end (the sampler lets late reports settle): until then it
        // is measured now too, so that its jobs never drop out of the charts.
        var previous = current.AddMinutes(-1);
        if (previous >= from && samples.All(s => s.Minute != previous))
        {
            samples.Add(await sampler.MeasureAsync(previous, current, ct));
        }

        // The minute under way is measured now, so the charts show what just happened, not only what a minute ago did.
        samples.Add(await sampler.MeasureAsync(current, now, ct));
        return TypedResults.Ok(ChartSeries.Build(chart, from, samples));
    }
}
