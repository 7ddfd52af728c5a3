using System.Collections.Concurrent;
using Conductor.Agent.Execution;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Hosting;

/// <summary>
/// The agent of one node: registers the node, heartbeats, launches the jobs dispatched to it, stops jobs the
/// store no longer wants running, and reports how each attempt ended.
/// </summary>
public sealed class AgentService(
    IAgentStore agentStore,
    INodeStore nodeStore,
    IWakeBus wakeBus,
    JobRunner runner,
    TimeProvider time,
    IOptions<AgentOptions> options,
    ILogger<AgentService> logger) : BackgroundService
{
    private static readonly TimeSpan EndedMemory = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<ExecutionKey, Execution> _executions = new();
    private readonly ConcurrentQueue<JobCompletion> _unreported = new();

    // Attempts that ended recently: a dispatch list read before their end was recorded must not start them again.
    private readonly ConcurrentDictionary<ExecutionKey, DateTimeOffset> _ended = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly AgentOptions _options = options.Value;
    private bool _registeredAtStart;

    /// <summary>The job attempts this agent is running or still has to report.</summary>
    public IReadOnlyCollection<(JobId JobId, int Attempt)> Running =>
        _executions.Keys.Select(k => (k.JobId, k.Attempt)).ToList();

    private NodeName Node => _options.Node();

    /// <summary>Registers the node before the host goes on starting, so the first submission already finds it.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await nodeStore.RegisterAsync(_options.ToRegistration(), time.GetUtcNow(), cancellationToken);
            AgentLog.Registered(logger, Node, _options.Cpus, _options.MemoryMiB);
            _registeredAtStart = true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "The agent of node {Node} could not register at start; it keeps trying", Node);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await _shutdown.CancelAsync();
        var pending = _executions.Values.Select(e => e.Task).ToArray();
        if (pending.Length > 0)
        {
            AgentLog.StoppingOnShutdown(logger, pending.Length);
            try
            {
                await Task.WhenAll(pending).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Shutdown timed out while jobs were still stopping");
            }
        }

        await ReportPendingAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _shutdown.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var wake = wakeBus.Subscribe(WakeTopic.Node(Node));
        var registered = _registeredAtStart;
        var nextHeartbeat = time.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            // Each step fails on its own: a failing heartbeat does not keep jobs from launching, and the other way round.
            if (!registered)
            {
                registered = await StepAsync("registration", async ct =>
                {
                    await nodeStore.RegisterAsync(_options.ToRegistration(), time.GetUtcNow(), ct);
                    AgentLog.Registered(logger, Node, _options.Cpus, _options.MemoryMiB);
                }, stoppingToken);
            }

            if (registered && time.GetUtcNow() >= nextHeartbeat &&
                await StepAsync("heartbeat", ct => nodeStore.HeartbeatAsync(Node, time.GetUtcNow(), ct), stoppingToken))
            {
                nextHeartbeat = time.GetUtcNow() + _options.HeartbeatInterval;
            }

            if (registered)
            {
                await StepAsync("reporting", ReportPendingAsync, stoppingToken);
                await StepAsync("launching", StartDispatchesAsync, stoppingToken);
                await StepAsync("reconciling", ReconcileAsync, stoppingToken);
            }

            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            var untilHeartbeat = nextHeartbeat - time.GetUtcNow();
            var wait = untilHeartbeat < _options.PollInterval ? untilHeartbeat : _options.PollInterval;
            try
            {
                await wake.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1), time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <summary>Runs one step of the loop; a store failure is logged and the step is tried again next time.</summary>
    private async Task<bool> StepAsync(string step, Func<CancellationToken, Task> action, CancellationToken ct)
    {
        try
        {
            await action(ct);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "The agent of node {Node} failed at {Step}; retrying", Node, step);
            return false;
        }
    }

    private async Task StartDispatchesAsync(CancellationToken ct)
    {
        var dispatches = await agentStore.GetDispatchesAsync(Node, ct);
        foreach (var dispatch in dispatches)
        {
            var key = new ExecutionKey(dispatch.Job.Id, dispatch.Job.Attempt);
            if (_executions.ContainsKey(key) || _ended.ContainsKey(key) || _shutdown.IsCancellationRequested)
            {
                continue;
            }

            // Launches happen one at a time on this loop: a script file is never being written while another
            // job's process is being spawned.
            var run = runner.Start(JobLaunch.FromDispatch(dispatch, Node), _shutdown.Token);
            var execution = new Execution(run);
            _executions[key] = execution;
            execution.Task = TrackAsync(key, execution);
        }
    }

    private async Task ReconcileAsync(CancellationToken ct)
    {
        if (_executions.IsEmpty)
        {
            return;
        }

        var jobs = (await agentStore.GetNodeJobsAsync(Node, ct)).ToDictionary(j => j.JobId);
        foreach (var (key, execution) in _executions)
        {
            if (execution.Run.Outcome.IsCompleted)
            {
                continue;
            }

            if (!jobs.TryGetValue(key.JobId, out var job) || job.Attempt != key.Attempt)
            {
                AgentLog.Fenced(logger, key.JobId, key.Attempt, Node);
                execution.Run.Stop(StopReason.Fenced);
            }
            else if (job.State != JobState.Running)
            {
                AgentLog.NoLongerRunning(logger, key.JobId, job.State);
                execution.Run.Stop(StopReason.UserCancel);
            }
        }
    }

    /// <summary>Runs one execution to its end and reports it; removes it from the table once reported.</summary>
    private async Task TrackAsync(ExecutionKey key, Execution execution)
    {
        var run = execution.Run;
        try
        {
            if (run.Process is { } process)
            {
                await MarkLaunchedAsync(run, process);
            }

            JobOutcome outcome;
            try
            {
                outcome = await run.Outcome;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Lost track of job {JobId} attempt {Attempt}", key.JobId, key.Attempt);
                outcome = new JobOutcome(OutcomeKind.Failed, JobOutcome.LaunchFailureExitCode, "the agent lost track of the job: " + e.Message);
            }

            var completion = new JobCompletion(key.JobId, key.Attempt, outcome.State, outcome.ExitCode, outcome.Error, time.GetUtcNow());
            _ended[key] = time.GetUtcNow();
            if (await TryFinishAsync(completion, CancellationToken.None))
            {
                _executions.TryRemove(key, out _);
            }
            else
            {
                // Stays in the table (so it is not launched again) until the report gets through.
                _unreported.Enqueue(completion);
            }
        }
        catch (Exception e)
        {
            logger.LogError(e, "Execution of job {JobId} attempt {Attempt} failed", key.JobId, key.Attempt);
            _executions.TryRemove(key, out _);
        }
        finally
        {
            run.Dispose();
        }
    }

    private async Task MarkLaunchedAsync(JobRun run, Processes.LaunchedProcess process)
    {
        var record = new LaunchRecord(process.Pid, process.StartTicks, run.StdoutPath!, run.StderrPath!, time.GetUtcNow());
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (!await agentStore.MarkLaunchedAsync(run.Launch.JobId, run.Launch.Attempt, record, _shutdown.Token))
                {
                    AgentLog.CancelledWhileLaunching(logger, run.Launch.JobId);
                    run.Stop(StopReason.UserCancel);
                }

                return;
            }
            catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (attempt < 5)
            {
                logger.LogWarning(e, "Recording the launch of job {JobId} failed; retrying", run.Launch.JobId);
                await Task.Delay(TimeSpan.FromSeconds(attempt), time, CancellationToken.None);
            }
            catch (Exception e)
            {
                // The job keeps running; its completion is still reported.
                logger.LogError(e, "Could not record the launch of job {JobId}", run.Launch.JobId);
                return;
            }
        }
    }

    private async Task<bool> TryFinishAsync(JobCompletion completion, CancellationToken ct)
    {
        try
        {
            var result = await agentStore.FinishAsync(completion, ct);
            AgentLog.Reported(logger, completion.JobId, completion.Attempt, completion.State, completion.ExitCode, result);
            wakeBus.Publish(WakeTopic.Scheduler);
            return true;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Reporting the end of job {JobId} attempt {Attempt} failed; will retry", completion.JobId, completion.Attempt);
            return false;
        }
    }

    private async Task ReportPendingAsync(CancellationToken ct)
    {
        var count = _unreported.Count;
        for (var i = 0; i < count && _unreported.TryDequeue(out var completion); i++)
        {
            if (await TryFinishAsync(completion, ct))
            {
                _executions.TryRemove(new ExecutionKey(completion.JobId, completion.Attempt), out _);
            }
            else
            {
                _unreported.Enqueue(completion);
            }
        }

        var horizon = time.GetUtcNow() - EndedMemory;
        foreach (var (key, at) in _ended)
        {
            if (at < horizon)
            {
                _ended.TryRemove(key, out _);
            }
        }
    }

    private readonly record struct ExecutionKey(JobId JobId, int Attempt);

    private sealed class Execution(JobRun run)
    {
        public JobRun Run { get; } = run;
        public Task Task { get; set; } = Task.CompletedTask;
    }
}
