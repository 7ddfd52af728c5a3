using System.ComponentModel.DataAnnotations;
using Conductor.Core.Hosting;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Scheduling;

public sealed class NodeWatchdogOptions
{
    public const string SectionName = "Conductor:NodeWatchdog";

    /// <summary>A node whose agent has sent no heartbeat for this long is marked DOWN. Several heartbeat intervals.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest time between two checks; a short timeout is checked more often (a third of it).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The node watchdog of a cluster, run by the scheduler leader only: marks DOWN the nodes whose agent went silent
/// for longer than <see cref="NodeWatchdogOptions.NodeTimeout"/>; in the same transaction their running jobs go
/// back to PENDING (those that asked for requeue) or end NODE_FAIL. Then it wakes the scheduler, for the requeued
/// jobs, and the nodes' agents, in case one is alive after all and has jobs to stop (fencing).
/// </summary>
public sealed class NodeWatchdogService(
    INodeStore nodes,
    IWakeBus bus,
    ILeadership leadership,
    TimeProvider time,
    IOptions<NodeWatchdogOptions> options,
    ILogger<NodeWatchdogService> logger) : LoopingService(time, logger)
{
    private readonly NodeWatchdogOptions _options = options.Value;

    protected override TimeSpan Interval =>
        TimeSpan.FromTicks(Math.Min(_options.CheckInterval.Ticks, Math.Max(TimeSpan.FromMilliseconds(100).Ticks, _options.NodeTimeout.Ticks / 3)));

    protected override async Task RunOnceAsync(CancellationToken ct)
    {
        if (!leadership.IsLeader)
        {
            await leadership.WaitForLeadershipAsync(ct);
        }

        await CheckAsync(ct);
    }

    /// <summary>One check now; returns the nodes it marked DOWN.</summary>
    public async Task<IReadOnlyList<DownedNode>> CheckAsync(CancellationToken ct)
    {
        var now = Time.GetUtcNow();
        var downed = await nodes.MarkNodesDownAsync(now - _options.NodeTimeout, now, ct);
        foreach (var node in downed)
        {
            logger.LogWarning(
                "Node {Node} stopped responding (last heartbeat {LastHeartbeat:u}); marked DOWN, {Requeued} job(s) requeued, {Failed} ended NODE_FAIL",
                node.Node, node.LastHeartbeat, node.Requeued.Count, node.Failed.Count);
            bus.Publish(WakeTopic.Node(node.Node));
        }

        if (downed.Any(n => n.Requeued.Count > 0))
        {
            bus.Publish(WakeTopic.Scheduler);
        }

        return downed;
    }
}
