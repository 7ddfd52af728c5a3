using Conductor.Core.Signals;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Core.Tests;

public sealed class WakeSignalTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>A guard on awaiting a task that the test has already made complete; never hit when the code works.</summary>
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task WaitAsync_ReturnsTrueImmediately_WhenSetBeforeWait()
    {
        var signal = new WakeSignal();
        signal.Set();

        var wait = signal.WaitAsync(Timeout, _time, CancellationToken.None);

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.True(await wait);
    }

    [Fact]
    public async Task WaitAsync_WakesOnce_WhenSetManyTimesBeforeWait()
    {
        var signal = new WakeSignal();
        for (var i = 0; i < 10; i++)
        {
            signal.Set();
        }

        Assert.True(await signal.WaitAsync(Timeout, _time, CancellationToken.None));

        var second = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        Assert.False(second.IsCompleted);
        _time.Advance(Timeout);
        Assert.False(await second.WaitAsync(Guard));
    }

    [Fact]
    public async Task WaitAsync_ReturnsFalse_WhenTimeoutPassesWithoutSet()
    {
        var signal = new WakeSignal();

        var wait = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        _time.Advance(Timeout - TimeSpan.FromMilliseconds(1));
        Assert.False(wait.IsCompleted);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(await wait.WaitAsync(Guard));
    }

    [Fact]
    public async Task WaitAsync_ReturnsTrue_WhenSetWhileWaiting()
    {
        var signal = new WakeSignal();
        var wait = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        Assert.False(wait.IsCompleted);

        signal.Set();

        Assert.True(await wait.WaitAsync(Guard));
    }

    [Fact]
    public async Task WaitAsync_ConsumesTheSet_WhenSetWhileWaiting()
    {
        var signal = new WakeSignal();
        var first = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        signal.Set();
        Assert.True(await first.WaitAsync(Guard));

        var second = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        Assert.False(second.IsCompleted);
        _time.Advance(Timeout);
        Assert.False(await second.WaitAsync(Guard));
    }

    [Fact]
    public async Task WaitAsync_ReturnsTrue_WhenSetAfterAnEarlierTimeout()
    {
        var signal = new WakeSignal();
        var first = signal.WaitAsync(Timeout, _time, CancellationToken.None);
        _time.Advance(Timeout);
        Assert.False(await first.WaitAsync(Guard));

        signal.Set();

        Assert.True(await signal.WaitAsync(Timeout, _time, CancellationToken.None));
    }

    [Fact]
    public async Task WaitAsync_Throws_WhenCallerCancels()
    {
        var signal = new WakeSignal();
        using var cts = new CancellationTokenSource();
        var wait = signal.WaitAsync(Timeout, _time, cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Guard));
    }

    [Fact]
    public async Task WaitAsync_ReturnsTrue_WhenSetEvenIfCallerAlreadyCancelled()
    {
        var signal = new WakeSignal();
        signal.Set();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        Assert.True(await signal.WaitAsync(Timeout, _time, cts.Token));
    }
}
