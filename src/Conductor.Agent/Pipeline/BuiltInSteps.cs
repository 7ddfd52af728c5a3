using System.Diagnostics;
using System.Diagnostics.Metrics;
using Conductor.Agent.Execution;
using Conductor.Agent.Monitoring;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Pipeline;

/// <summary>Logs the start and the end of every job, and any fault.</summary>
public sealed class LoggingStep(ILogger<LoggingStep> logger) : IJobExecutionStep
{
    public async Task InvokeAsync(JobExecutionContext context, JobExecutionDelegate next)
    {
        logger.LogDebug("Job {JobId} attempt {Attempt} starts running ({Cpus} CPUs on {CpuIds})",
            context.JobId, context.Attempt, context.Launch.Spec.TotalCpus, string.Join(',', context.CpuIds));
        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.Detach.IsCancellationRequested)
        {
            logger.LogInformation("Job {JobId} attempt {Attempt} left running: the agent stopped watching it", context.JobId, context.Attempt);
            throw;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {JobId} attempt {Attempt} failed in the agent", context.JobId, context.Attempt);
            throw;
        }

        if (context.Outcome is { Kind: OutcomeKind.Detached })
        {
            logger.LogInformation("Job {JobId} attempt {Attempt} left running: the agent stopped watching it", context.JobId, context.Attempt);
        }
        else if (context.Outcome is { } outcome)
        {
            logger.LogInformation("Job {JobId} attempt {Attempt} ended {State} {Exit} after {Elapsed:0.###} s{Error}",
                context.JobId, context.Attempt, outcome.State, outcome.ExitCode, context.Elapsed.TotalSeconds,
                outcome.Error is null ? "" : ": " + outcome.Error);
        }
    }
}

/// <summary>
/// Measures every job with System.Diagnostics.Metrics (meter <see cref="AgentMetrics.MeterName"/>): run time by
/// outcome, outcomes, and jobs running now. The server exports the meter on /metrics.
/// </summary>
public sealed class MetricsStep(AgentMetrics metrics) : IJobExecutionStep
{
    public async Task InvokeAsync(JobExecutionContext context, JobExecutionDelegate next)
    {
        metrics.Running.Add(1);
        var started = Stopwatch.GetTimestamp();
        string? outcome = "error";
        try
        {
            await next(context);
            outcome = context.Outcome is { Kind: not OutcomeKind.Detached } o ? o.State.ToString() : null;
        }
        catch (OperationCanceledException) when (context.Detach.IsCancellationRequested)
        {
            outcome = null;
            throw;
        }
        finally
        {
            metrics.Running.Add(-1);

            // A detached attempt has not ended: it is counted at its adoption's end, not here.
            if (outcome is not null)
            {
                var tag = new KeyValuePair<string, object?>("outcome", outcome);
                metrics.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tag);
                metrics.Outcomes.Add(1, tag);
            }
        }
    }
}

/// <summary>Has the process monitor sample the job's process tree while it runs, and enforce its memory limit.</summary>
public sealed class ResourceMonitoringStep(ProcessMonitor monitor) : IJobExecutionStep
{
    public async Task InvokeAsync(JobExecutionContext context, JobExecutionDelegate next)
    {
        monitor.Watch(context);
        try
        {
            await next(context);
        }
        finally
        {
            monitor.Forget(context);
        }
    }
}

/// <summary>The agent's instruments.</summary>
public sealed class AgentMetrics : IDisposable
{
    public const string MeterName = "Conductor.Agent";

    private readonly Meter _meter;

    public AgentMetrics()
    {
        _meter = new Meter(MeterName);
        Duration = _meter.CreateHistogram<double>("conductor_agent_job_run_seconds", "s", "How long job attempts ran on this agent, by outcome.");
        Outcomes = _meter.CreateCounter<long>("conductor_agent_jobs_finished", description: "Job attempts this agent finished, by outcome.");
        Running = _meter.CreateUpDownCounter<long>("conductor_agent_jobs_running", description: "Job attempts running on this agent.");
        CpusAllocated = _meter.CreateUpDownCounter<long>("conductor_agent_cpus_allocated", description: "CPUs held by jobs on this agent's node.");
        Retries = _meter.CreateCounter<long>("conductor_agent_retries", description: "Infrastructure operations tried again.");
    }

    public Histogram<double> Duration { get; }
    public Counter<long> Outcomes { get; }
    public UpDownCounter<long> Running { get; }
    public UpDownCounter<long> CpusAllocated { get; }
    public Counter<long> Retries { get; }

    public void Dispose() => _meter.Dispose();
}
