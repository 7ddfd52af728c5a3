using Conductor.Core.Hosting;
using Conductor.Core.Signals;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Core.Tests;

public sealed class LoopingServiceTests
{
    private static Task Until(Func<bool> condition) => Poll.UntilAsync(condition, TimeSpan.FromSeconds(10), "the loop's runs");

    /// <summary>
    /// Moves the fake clock on by <paramref name="step"/> at every poll until the condition holds: the loop may not yet
    /// wait on the clock when a test first advances it, and an advance made before its timer exists would be lost.
    /// </summary>
    private static Task AdvanceUntil(FakeTimeProvider time, TimeSpan step, Func<bool> condition) =>
        Poll.UntilAsync(() =>
        {
            if (condition())
            {
                return true;
            }

            time.Advance(step);
            return false;
        }, TimeSpan.FromSeconds(10), "the loop's runs as the fake clock moves");

    private static double[] Gaps(CountingLoop loop)
    {
        var times = loop.RunTimes.ToArray();
        return times.Zip(times.Skip(1), (a, b) => (b - a).TotalSeconds).ToArray();
    }

    [Fact]
    public async Task ExecuteAsync_RunsOncePerInterval_OnTheInjectedClock()
    {
        var time = new FakeTimeProvider();
        using var loop = new CountingLoop(time, TimeSpan.FromMinutes(1));
        await loop.StartAsync(CancellationToken.None);
        await Until(() => loop.Runs == 1);

        await AdvanceUntil(time, TimeSpan.FromSeconds(1), () => loop.Runs == 3);
        await loop.StopAsync(CancellationToken.None);

        // The runs were a whole interval of the fake clock apart (the clock moves a second at a time).
        Assert.All(Gaps(loop), gap => Assert.InRange(gap, 60, 62));
    }

    [Fact]
    public async Task ExecuteAsync_KeepsGoingAfterAFailure_WithABackOff()
    {
        var time = new FakeTimeProvider();
        using var loop = new CountingLoop(time, TimeSpan.FromMinutes(1)) { FailFirst = 2 };
        await loop.StartAsync(CancellationToken.None);
        await Until(() => loop.Runs == 1 && loop.Failures == 1);

        await AdvanceUntil(time, TimeSpan.FromMilliseconds(100), () => loop.Runs == 3 && loop.Failures == 0);
        await loop.StopAsync(CancellationToken.None);

        // Half a second after the first failure, a second after the second (with jitter; the clock moves 0.1 s at a time).
        var gaps = Gaps(loop);
        Assert.InRange(gaps[0], 0.4, 0.8);
        Assert.InRange(gaps[1], 0.8, 1.5);
    }

    [Fact]
    public async Task ExecuteAsync_RunsEarly_WhenWoken()
    {
        var time = new FakeTimeProvider();
        var wake = new WakeSignal();
        using var loop = new CountingLoop(time, TimeSpan.FromHours(1), wake);
        await loop.StartAsync(CancellationToken.None);
        await Until(() => loop.Runs == 1);

        wake.Set();
        await Until(() => loop.Runs == 2);
        wake.Set();
        wake.Set();
        await Until(() => loop.Runs == 3);

        await loop.StopAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData(1, 0.4, 0.6)]
    [InlineData(3, 1.6, 2.4)]
    [InlineData(20, 30, 30)]
    public void Backoff_GrowsExponentially_UpToTheCap(int failures, double min, double max)
    {
        var delay = LoopingService.Backoff(failures, TimeSpan.FromSeconds(30)).TotalSeconds;

        Assert.InRange(delay, min, max);
    }

    private sealed class CountingLoop(TimeProvider time, TimeSpan interval, WakeSignal? wake = null)
        : LoopingService(time, NullLogger.Instance)
    {
        private int _runs;

        public int Runs => Volatile.Read(ref _runs);

        public System.Collections.Concurrent.ConcurrentQueue<DateTimeOffset> RunTimes { get; } = new();

        public int FailFirst { get; init; }

        protected override TimeSpan Interval => interval;

        protected override WakeSignal? Wake => wake;

        protected override Task RunOnceAsync(CancellationToken ct)
        {
            RunTimes.Enqueue(Time.GetUtcNow());
            var run = Interlocked.Increment(ref _runs);
            return run <= FailFirst ? throw new InvalidOperationException("failing on purpose") : Task.CompletedTask;
        }
    }
}
