using Conductor.Core.Hosting;
using Conductor.Core.Signals;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Core.Tests;

public sealed class LoopingServiceTests
{
    private static Task Until(Func<bool> condition) => Poll.UntilAsync(condition, TimeSpan.FromSeconds(10), "the loop's runs");

    [Fact]
    public async Task ExecuteAsync_RunsOncePerInterval_OnTheInjectedClock()
    {
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        using var loop = new CountingLoop(time, TimeSpan.FromMinutes(1));
        await loop.StartAsync(CancellationToken.None);
        await Until(() => loop.Runs == 1);

        time.Advance(TimeSpan.FromSeconds(59));
        time.Advance(TimeSpan.FromSeconds(1));
        await Until(() => loop.Runs == 2);
        time.Advance(TimeSpan.FromMinutes(1));
        await Until(() => loop.Runs == 3);
        await loop.StopAsync(CancellationToken.None);

        // Each run happened at a whole interval of the fake clock: none at 59 s.
        Assert.Equal([0, 60, 120], loop.RunTimes.Select(t => (t - start).TotalSeconds));
    }

    [Fact]
    public async Task ExecuteAsync_KeepsGoingAfterAFailure_WithABackOff()
    {
        var time = new FakeTimeProvider();
        using var loop = new CountingLoop(time, TimeSpan.FromMinutes(1)) { FailFirst = 2 };
        await loop.StartAsync(CancellationToken.None);
        await Until(() => loop.Runs == 1 && loop.Failures == 1);

        time.Advance(TimeSpan.FromSeconds(1));
        await Until(() => loop.Runs == 2 && loop.Failures == 2);
        time.Advance(TimeSpan.FromSeconds(2));
        await Until(() => loop.Runs == 3 && loop.Failures == 0);

        await loop.StopAsync(CancellationToken.None);
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
