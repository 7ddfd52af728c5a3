using Conductor.Core.Hosting;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Server.Charts;

/// <summary>
/// Keeps the charts' history: shortly after each minute ends, the scheduler leader (one writer per cluster) writes
/// that minute's sample — CPUs allocated and in total, pending and running jobs, jobs started and ended within it,
/// their median wait — as one row, and deletes the rows older than <see cref="Retention"/>. Rows live in the
/// database, so they survive restarts; a minute when no server ran stays a gap.
/// </summary>
public sealed class ClusterSampler(
    IHistoryStore history,
    IJobStore jobs,
    INodeStore nodes,
    ILeadership leadership,
    TimeProvider time,
    ILogger<ClusterSampler> logger) : BackgroundService
{
    /// <summary>A week for the widest chart, and a day of margin: at most 11,520 rows.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(8);

    /// <summary>How long after a minute ends its sample is taken, so that the ends reported just then are in.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    /// <summary>The sample of the minute starting at <paramref name="minute"/>, counting what happened up to <paramref name="until"/>.</summary>
    public async Task<ClusterSample> MeasureAsync(DateTimeOffset minute, DateTimeOffset until, CancellationToken ct)
    {
        var nodeList = await nodes.ListAsync(ct);
        var counts = await jobs.CountByStateAsync(ct);
        var activity = await history.GetActivityAsync(minute, until, ct);

        // A node that is down offers nothing: the total is what the cluster could run.
        var up = nodeList.Where(n => n.State != NodeState.Down).ToList();

        // GPUs only on a cluster that has any, so that a cluster without them draws no empty chart.
        var hasGpus = nodeList.Any(n => n.Gres.Gpus > 0);
        return new ClusterSample(
            minute,
            up.Sum(n => n.Cpus),
            nodeList.Sum(n => n.AllocatedCpus),
            hasGpus ? up.Sum(n => n.Gres.Gpus) : null,
            hasGpus ? nodeList.Sum(n => n.AllocatedDevices.Count(d => d.Name == GresDevice.Gpu)) : null,
            counts[JobState.Pending],
            counts[JobState.Running],
            activity.Started,
            activity.Finished,
            activity.MedianWaitSeconds);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastPurge = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            var next = ChartSeries.MinuteOf(now).AddMinutes(1) + Settle;
            try
            {
                await Task.Delay(next - now, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (!leadership.IsLeader)
            {
                continue;
            }

            var minute = ChartSeries.MinuteOf(time.GetUtcNow()).AddMinutes(-1);
            try
            {
                await history.SaveSampleAsync(await MeasureAsync(minute, minute.AddMinutes(1), stoppingToken), stoppingToken);
                if (minute - lastPurge >= TimeSpan.FromHours(1))
                {
                    await history.PurgeSamplesAsync(minute - Retention, stoppingToken);
                    lastPurge = minute;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The next minute tries again; this one stays a gap in the charts.
                logger.LogWarning(e, "The cluster sample of {Minute:u} could not be written", minute);
            }
        }
    }
}
