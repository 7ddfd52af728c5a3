using System.Collections.Concurrent;
using System.Threading.Channels;
using Conductor.Core.Nodes;

namespace Conductor.Core.Signals;

/// <summary>What a wake-up is about: the scheduler, or one node's agent.</summary>
public readonly record struct WakeTopic(string Name)
{
    public static WakeTopic Scheduler { get; } = new("scheduler");

    public static WakeTopic Node(NodeName node) => new("node:" + node.Value);

    public override string ToString() => Name;
}

/// <summary>
/// A coalescing wake-up: any number of <see cref="Set"/> calls before the next wait wake the waiter once.
/// </summary>
public sealed class WakeSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    public void Set() => _channel.Writer.TryWrite(true);

    /// <summary>Waits until set or until the timeout passes; true when it was set.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        if (_channel.Reader.TryRead(out _))
        {
            return true;
        }

        using var timeoutCts = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);
        try
        {
            await _channel.Reader.WaitToReadAsync(linked.Token);
            _channel.Reader.TryRead(out _);
            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }
}

/// <summary>Carries wake-ups between the parts of the system (in one process, or across processes).</summary>
public interface IWakeBus
{
    void Publish(WakeTopic topic);

    /// <summary>The signal set whenever the topic is published.</summary>
    WakeSignal Subscribe(WakeTopic topic);
}

/// <summary>The wake bus of a single process.</summary>
public sealed class InProcessWakeBus : IWakeBus
{
    private readonly ConcurrentDictionary<WakeTopic, ConcurrentBag<WakeSignal>> _subscribers = new();

    public void Publish(WakeTopic topic)
    {
        if (_subscribers.TryGetValue(topic, out var signals))
        {
            foreach (var signal in signals)
            {
                signal.Set();
            }
        }
    }

    public WakeSignal Subscribe(WakeTopic topic)
    {
        var signal = new WakeSignal();
        _subscribers.GetOrAdd(topic, _ => []).Add(signal);
        return signal;
    }
}
