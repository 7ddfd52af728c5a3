using System.ComponentModel.DataAnnotations;
using Conductor.Core.Hosting;
using Conductor.Core.Storage;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Jobs;

public sealed class RetentionOptions
{
    public const string SectionName = "Conductor:Retention";

    /// <summary>How long ended jobs are kept, with their events; their log files are the user's and stay.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00")]
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(30);

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;
}

/// <summary>Purges ended jobs older than the retention age, in batches, so history does not grow without bound.</summary>
public sealed class RetentionService(
    IJobStore jobs,
    TimeProvider time,
    IOptions<RetentionOptions> options,
    ILogger<RetentionService> logger) : LoopingService(time, logger)
{
    private readonly RetentionOptions _options = options.Value;

    public long Purged { get; private set; }

    protected override TimeSpan Interval => _options.Interval;

    protected override async Task RunOnceAsync(CancellationToken ct)
    {
        var before = Time.GetUtcNow() - _options.MaxAge;
        var total = 0;
        int batch;
        do
        {
            batch = await jobs.PurgeAsync(before, _options.BatchSize, ct);
            total += batch;
        }
        while (batch == _options.BatchSize && !ct.IsCancellationRequested);

        if (total > 0)
        {
            Purged += total;
            logger.LogInformation("Purged {Count} job(s) that ended before {Before:u}", total, before);
        }
    }

    /// <summary>One purge now (for tests and operators).</summary>
    public Task PurgeNowAsync(CancellationToken ct) => RunOnceAsync(ct);
}
