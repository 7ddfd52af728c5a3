using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Core.Tests;

public sealed class InProcessWakeBusTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();
    private readonly InProcessWakeBus _bus = new();

    /// <summary>True when the signal was set; false after letting its timeout pass on the fake clock.</summary>
    private async Task<bool> WasSetAsync(WakeSignal signal)
    {
        var wait = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        if (!wait.IsCompleted)
        {
            _time.Advance(Timeout);
        }

        return await wait.WaitAsync(Guard);
    }

    [Fact]
    public async Task Publish_SetsEverySubscriber_WhenTopicMatches()
    {
        var first = _bus.Subscribe(WakeTopic.Scheduler);
        var second = _bus.Subscribe(WakeTopic.Scheduler);

        _bus.Publish(WakeTopic.Scheduler);

        Assert.True(await WasSetAsync(first));
        Assert.True(await WasSetAsync(second));
    }

    [Fact]
    public async Task Publish_LeavesOtherTopicsAlone_WhenTopicDiffers()
    {
        var scheduler = _bus.Subscribe(WakeTopic.Scheduler);
        var n01 = _bus.Subscribe(WakeTopic.Node(new NodeName("n01")));
        var n02 = _bus.Subscribe(WakeTopic.Node(new NodeName("n02")));

        _bus.Publish(WakeTopic.Node(new NodeName("n01")));

        Assert.True(await WasSetAsync(n01));
        Assert.False(await WasSetAsync(n02));
        Assert.False(await WasSetAsync(scheduler));
    }

    [Fact]
    public async Task Publish_WakesOnce_WhenPublishedManyTimes()
    {
        var signal = _bus.Subscribe(WakeTopic.Scheduler);

        for (var i = 0; i < 5; i++)
        {
            _bus.Publish(WakeTopic.Scheduler);
        }

        Assert.True(await WasSetAsync(signal));
        Assert.False(await WasSetAsync(signal));
    }

    [Fact]
    public void Publish_DoesNothing_WhenTopicHasNoSubscribers()
    {
        var ex = Record.Exception(() => _bus.Publish(new WakeTopic("nobody")));

        Assert.Null(ex);
    }

    [Fact]
    public async Task Subscribe_MissesEarlierPublish_WhenSubscribedAfterIt()
    {
        _bus.Publish(WakeTopic.Scheduler);

        var late = _bus.Subscribe(WakeTopic.Scheduler);

        Assert.False(await WasSetAsync(late));
    }

    [Fact]
    public void NodeTopic_EqualsByName_WhenBuiltTwice()
    {
        Assert.Equal(WakeTopic.Node(new NodeName("n01")), WakeTopic.Node(new NodeName("n01")));
        Assert.Equal("node:n01", WakeTopic.Node(new NodeName("n01")).ToString());
        Assert.Equal("scheduler", WakeTopic.Scheduler.ToString());
    }
}
