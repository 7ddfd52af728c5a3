using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Core.Scheduling;

/// <summary>
/// Each account's past usage for fair-share, in weighted CPU-seconds (a GPU-second counts
/// <see cref="PolicyOptions.GpuUsageWeight"/>), decayed with a half-life: usage from one half-life ago counts half.
/// Ended jobs are folded in as they are read from the store; a job read twice (the reads overlap a little, since
/// ends are not recorded in end-time order) is counted once.
/// </summary>
public sealed class UsageLedger(TimeSpan halfLife, double gpuWeight)
{
    /// <summary>How far before the last end seen the next read starts.</summary>
    public static readonly TimeSpan Overlap = TimeSpan.FromMinutes(2);

    private readonly Dictionary<string, double> _usage = new(StringComparer.Ordinal);
    private readonly Dictionary<JobId, DateTimeOffset> _recent = [];
    private DateTimeOffset _asOf = DateTimeOffset.MinValue;

    /// <summary>The latest end folded in; the next read asks for ends after this minus <see cref="Overlap"/>.</summary>
    public DateTimeOffset? LastEnd { get; private set; }

    public DateTimeOffset NextReadAfter(DateTimeOffset now) =>
        LastEnd is { } last ? last - Overlap : now - (halfLife * 10);

    public void Fold(IEnumerable<UsageRecord> records, DateTimeOffset now)
    {
        DecayTo(now);
        foreach (var record in records)
        {
            if (!_recent.TryAdd(record.JobId, record.End))
            {
                continue;
            }

            var end = record.End < now ? record.End : now;
            var seconds = Math.Max(0, (end - record.Start).TotalSeconds);
            var charge = (record.Cpus + (gpuWeight * record.Gpus)) * seconds * Decay(now - end);
            _usage[record.Account] = _usage.GetValueOrDefault(record.Account) + charge;
            if (LastEnd is null || record.End > LastEnd)
            {
                LastEnd = record.End;
            }
        }

        if (LastEnd is { } last)
        {
            foreach (var (id, ended) in _recent)
            {
                if (ended < last - Overlap - Overlap)
                {
                    _recent.Remove(id);
                }
            }
        }
    }

    /// <summary>Every account's usage decayed to <paramref name="now"/>.</summary>
    public IReadOnlyDictionary<string, double> At(DateTimeOffset now)
    {
        DecayTo(now);
        return new Dictionary<string, double>(_usage, StringComparer.Ordinal);
    }

    private void DecayTo(DateTimeOffset now)
    {
        if (_asOf != DateTimeOffset.MinValue && now > _asOf)
        {
            var factor = Decay(now - _asOf);
            foreach (var account in _usage.Keys.ToList())
            {
                _usage[account] *= factor;
            }
        }

        if (now > _asOf)
        {
            _asOf = now;
        }
    }

    private double Decay(TimeSpan age) => age <= TimeSpan.Zero ? 1 : Math.Pow(0.5, age / halfLife);
}
