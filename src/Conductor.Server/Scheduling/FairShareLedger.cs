using Conductor.Core.Scheduling;
using Conductor.Core.Storage;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Scheduling;

/// <summary>
/// The server's <see cref="UsageLedger"/>, refreshed from the store's ended jobs at most every
/// <see cref="RefreshEvery"/>: what scheduling passes and the API's priority factors read. After a restart or a
/// change of leader it is rebuilt from the jobs the store still holds.
/// </summary>
public sealed class FairShareLedger(ISchedulerStore store, TimeProvider time, IOptions<SchedulerOptions> options) : IDisposable
{
    public static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(1);
    private const int Batch = 10_000;

    private readonly UsageLedger _ledger = new(options.Value.UsageHalfLife, options.Value.GpuUsageWeight);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private DateTimeOffset _refreshed = DateTimeOffset.MinValue;

    public void Dispose() => _lock.Dispose();

    /// <summary>Every account's usage decayed to now, in weighted CPU-seconds.</summary>
    public async Task<IReadOnlyDictionary<string, double>> UsageAsync(CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            var now = time.GetUtcNow();
            if (now - _refreshed >= RefreshEvery)
            {
                while (true)
                {
                    var records = await store.LoadEndedUsageAsync(_ledger.NextReadAfter(now), Batch, ct);
                    var before = _ledger.LastEnd;
                    _ledger.Fold(records, now);
                    if (records.Count < Batch || _ledger.LastEnd == before)
                    {
                        break;
                    }
                }

                _refreshed = now;
            }

            return _ledger.At(now);
        }
        finally
        {
            _lock.Release();
        }
    }
}
