using System.Collections.Concurrent;
using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Core.Storage;

namespace Conductor.Server.Live;

/// <summary>
/// Tells open dashboards that something changed, without any of them polling. It listens to the wake bus the
/// scheduler and the agents already use — the scheduler's topic (submit, cancel, a job's end, a node that registers
/// or goes down) and each node's topic (jobs started there) — so in a cluster it hears every server and agent
/// through PostgreSQL's NOTIFY. Each change bumps <see cref="Version"/> and sets every subscriber's signal; an idle
/// cluster sets nothing, and an open page costs a parked connection, plus one keep-alive every
/// <see cref="KeepAliveInterval"/> sent to all pages by one timer.
/// </summary>
public sealed class LiveUpdates(IWakeBus bus, INodeStore nodes, TimeProvider time, ILogger<LiveUpdates> logger) : BackgroundService
{
    /// <summary>Proxies close connections that say nothing for a minute or so; a comment line keeps them open.</summary>
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(25);

    /// <summary>How often at most the node list is read to listen to nodes that registered since.</summary>
    private static readonly TimeSpan NodeRefresh = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Subscription, byte> _subscribers = new();
    private readonly ConcurrentDictionary<NodeName, Task> _nodeWatchers = new();
    private long _version;
    private DateTimeOffset _nodesRead = DateTimeOffset.MinValue;

    /// <summary>Bumped on every change heard.</summary>
    public long Version => Interlocked.Read(ref _version);

    public int SubscriberCount => _subscribers.Count;

    /// <summary>A page's subscription: its signal is set on every change and every keep-alive; dispose it when the page goes.</summary>
    public Subscription Subscribe()
    {
        var subscription = new Subscription(this);
        _subscribers[subscription] = 0;
        return subscription;
    }

    /// <summary>Records a change and wakes every subscriber.</summary>
    public void Publish()
    {
        Interlocked.Increment(ref _version);
        WakeAll();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var scheduler = bus.Subscribe(WakeTopic.Scheduler);
        var keepAlive = KeepAliveAsync(stoppingToken);
        await WatchNodesAsync(stoppingToken);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                if (await scheduler.WaitAsync(TimeSpan.FromHours(1), time, stoppingToken))
                {
                    Publish();
                    await WatchNodesAsync(stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await keepAlive;
        await Task.WhenAll(_nodeWatchers.Values);
    }

    private async Task KeepAliveAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(KeepAliveInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                WakeAll();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Starts listening to the topic of every node not heard yet (a node's topic says a job started there).</summary>
    private async Task WatchNodesAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (now - _nodesRead < NodeRefresh)
        {
            return;
        }

        _nodesRead = now;
        try
        {
            foreach (var node in await nodes.ListAsync(ct))
            {
                // Kept in the dictionary and awaited when the service stops.
                _ = _nodeWatchers.GetOrAdd(node.Name, name => WatchNodeAsync(bus.Subscribe(WakeTopic.Node(name)), ct));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Live updates could not read the node list; jobs starting on new nodes are seen at their next change");
        }
    }

    private async Task WatchNodeAsync(WakeSignal signal, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (await signal.WaitAsync(TimeSpan.FromHours(1), time, ct))
                {
                    Publish();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void WakeAll()
    {
        foreach (var subscriber in _subscribers.Keys)
        {
            subscriber.Signal.Set();
        }
    }

    public sealed class Subscription(LiveUpdates owner) : IDisposable
    {
        public WakeSignal Signal { get; } = new();

        public void Dispose() => owner._subscribers.TryRemove(this, out _);
    }
}
