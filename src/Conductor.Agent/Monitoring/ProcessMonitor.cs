using System.Collections.Concurrent;
using System.Globalization;
using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Hosting;
using Conductor.Core.Jobs;
using Conductor.Core.Parsing;
using Conductor.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Monitoring;

/// <summary>
/// Samples the whole process tree of every running job (every process of its session, from /proc) every few
/// seconds: resident memory and CPU time. It keeps the peak memory and the CPU time on the job, warns once when
/// a job passes the warning share of its memory limit, and — where no cgroup makes the kernel enforce the limit —
/// kills a job that goes over it, which then ends OUT_OF_MEMORY.
/// </summary>
public sealed class ProcessMonitor(
    IAgentStore store,
    TimeProvider time,
    IOptions<AgentOptions> options,
    ILogger<ProcessMonitor> logger) : LoopingService(time, logger)
{
    /// <summary>How often a running job's usage so far is written to the store, for `conductor show` and the API.</summary>
    public static readonly TimeSpan UsageReportInterval = TimeSpan.FromSeconds(10);

    private const double ClockTicksPerSecond = 100.0;
    private static readonly long PageKiB = Environment.SystemPageSize / 1024;

    private readonly ConcurrentDictionary<JobExecutionContext, WatchState> _jobs = new();
    private readonly AgentOptions _options = options.Value;

    protected override TimeSpan Interval => _options.MonitorInterval;

    public int Watched => _jobs.Count;

    public void Watch(JobExecutionContext context) => _jobs[context] = new WatchState();

    public void Forget(JobExecutionContext context) => _jobs.TryRemove(context, out _);

    protected override async Task RunOnceAsync(CancellationToken ct)
    {
        if (_jobs.IsEmpty)
        {
            return;
        }

        SampleAll();
        var now = Time.GetUtcNow();
        foreach (var (context, watch) in _jobs)
        {
            if (context.MaxRssKiB > 0 && now - watch.LastReported >= UsageReportInterval)
            {
                watch.LastReported = now;
                try
                {
                    await store.RecordUsageAsync(context.JobId, context.Attempt, context.CpuSeconds, context.MaxRssKiB, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogDebug(e, "Could not record the usage of job {JobId}", context.JobId);
                }
            }
        }
    }

    /// <summary>One pass over /proc for all watched jobs.</summary>
    public void SampleAll()
    {
        var bySession = new Dictionary<int, (long RssKiB, long CpuTicks)>();
        foreach (var stat in ProcStat.All())
        {
            if (stat.IsZombie)
            {
                continue;
            }

            bySession.TryGetValue(stat.Session, out var sum);
            bySession[stat.Session] = (sum.RssKiB + (stat.RssPages * PageKiB), sum.CpuTicks + stat.CpuTicks);
        }

        foreach (var (context, watch) in _jobs)
        {
            if (context.Process is not { } process || !bySession.TryGetValue(process.Pid, out var usage))
            {
                continue;
            }

            // Processes that left the job's session (setsid) are still in its cgroup, where there is one.
            var rssKiB = Math.Max(usage.RssKiB, context.Cgroup?.ResidentKiB() ?? 0);
            context.RecordUsage(rssKiB, usage.CpuTicks / ClockTicksPerSecond);
            Check(context, watch, rssKiB);
        }
    }

    private void Check(JobExecutionContext context, WatchState watch, long rssKiB)
    {
        if (context.Launch.Spec.MemoryMiB is not { } limitMiB)
        {
            return;
        }

        var limitKiB = limitMiB * 1024;
        if (!watch.Warned && rssKiB >= limitKiB * _options.MemoryWarningFraction)
        {
            watch.Warned = true;
            var message = string.Create(CultureInfo.InvariantCulture,
                $"memory use {MemorySize.Format(rssKiB / 1024)} passed {_options.MemoryWarningFraction * 100:0}% of the {MemorySize.Format(limitMiB)} limit");
            logger.LogWarning("Job {JobId}: {Message}", context.JobId, message);
            context.AddEvent(JobEventKind.Warning, message);
        }

        if (context.Cgroup is null && rssKiB > limitKiB && context.Run is { } run)
        {
            var message = string.Create(CultureInfo.InvariantCulture,
                $"memory use {MemorySize.Format(rssKiB / 1024)} is over the {MemorySize.Format(limitMiB)} limit; killing the job");
            logger.LogWarning("Job {JobId}: {Message}", context.JobId, message);
            context.AddEvent(JobEventKind.Signal, message);
            run.Stop(StopReason.OutOfMemory);
        }
    }

    private sealed class WatchState
    {
        public bool Warned { get; set; }

        public DateTimeOffset LastReported { get; set; } = DateTimeOffset.MinValue;
    }
}
