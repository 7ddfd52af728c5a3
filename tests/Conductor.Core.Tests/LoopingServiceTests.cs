using Conductor.Core.Hosting;
using Conductor.Core.Signals;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Core.Tests;

public sealed class LoopingServiceTests
{
    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not become true");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task ExecuteAsync_RunsOncePerInterval_OnTheInjectedClock()
    {
        var time = new FakeTimeProvider();
        using var loop = new CountingLoop(time, TimeSpan.FromMinutes(1));
        await loop.StartAsync(CancellationToken.None);
        await Until(() => loop.Runs == 1);

        time.Advance(TimeSpan.FromSeconds(59));
        await Task.Delay(20);
        Assert.Equal(1, loop.Runs);
        time.Advance(TimeSpan.FromSeconds(1));
        await Until(() => loop.Runs == 2);
        time.Advance(TimeSpan.FromMinutes(1));
        await Until(() => loop.Runs == 3);

        await loop.StopAsync(CancellationToken.None);
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

        public int FailFirst { get; init; }

        protected override TimeSpan Interval => interval;

        protected override WakeSignal? Wake => wake;

        protected override Task RunOnceAsync(CancellationToken ct)
        {
            var run = Interlocked.Increment(ref _runs);
            return run <= FailFirst ? throw new InvalidOperationException("failing on purpose") : Task.CompletedTask;
        }
    }
}
