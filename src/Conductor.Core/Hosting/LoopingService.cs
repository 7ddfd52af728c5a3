using Conductor.Core.Signals;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Conductor.Core.Hosting;

/// <summary>
/// The shared loop of Conductor's daemons: run an iteration, then wait for the interval (a
/// <see cref="PeriodicTimer"/> on the injected <see cref="TimeProvider"/>) or, for services woken by events, for
/// their wake signal. A failing iteration is logged and retried after a capped, jittered back-off; the host's
/// stopping token ends the loop. No threads, no signal handlers of its own.
/// </summary>
public abstract class LoopingService(TimeProvider time, ILogger logger) : BackgroundService
{
    protected TimeProvider Time { get; } = time;

    /// <summary>The time between iterations (or the longest wait for a wake-up).</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>The longest back-off after failures.</summary>
    protected virtual TimeSpan MaxBackoff => TimeSpan.FromSeconds(30);

    /// <summary>A signal that starts the next iteration early; null for a purely periodic service.</summary>
    protected virtual WakeSignal? Wake => null;

    /// <summary>Consecutive failed iterations so far.</summary>
    public int Failures { get; private set; }

    protected abstract Task RunOnceAsync(CancellationToken ct);

    /// <summary>The wait before the next iteration after a success; by default <see cref="Interval"/>.</summary>
    protected virtual TimeSpan NextDelay() => Interval;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = Wake is null ? new PeriodicTimer(Interval, Time) : null;
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan? backoff = null;
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                Failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                Failures++;
                backoff = Backoff(Failures, MaxBackoff);
                logger.LogError(e, "{Service} failed ({Failures} in a row); trying again in {Delay}", GetType().Name, Failures, backoff);
            }

            try
            {
                if (backoff is { } delay)
                {
                    await Task.Delay(delay, Time, stoppingToken).ConfigureAwait(false);
                }
                else if (Wake is { } wake)
                {
                    await wake.WaitAsync(NextDelay(), Time, stoppingToken).ConfigureAwait(false);
                }
                else if (!await timer!.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <summary>Exponential back-off from half a second with ±20% jitter, never above the cap.</summary>
    public static TimeSpan Backoff(int failures, TimeSpan max)
    {
        var seconds = 0.5 * Math.Pow(2, Math.Min(failures - 1, 16)) * (0.8 + (Random.Shared.NextDouble() * 0.4));
        return TimeSpan.FromSeconds(Math.Min(max.TotalSeconds, seconds));
    }
}
