using System.Collections.Concurrent;
using Conductor.Agent.Execution;
using Conductor.Agent.Recovery;
using Conductor.Core.Hosting;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Hosting;

/// <summary>
/// The agent of one node: registers the node, recovers what the last run left (adopting live jobs), heartbeats,
/// launches the jobs dispatched to it, stops jobs the store no longer wants running, and has each attempt's end
/// recorded. Woken by its node's wake-ups, with a poll interval as a safety net. On shutdown it leaves running
/// jobs running, to be adopted at the next start, or with <see cref="AgentOptions.Drain"/> waits for them.
/// </summary>
public sealed class AgentService : LoopingService
{
    private static readonly TimeSpan EndedMemory = TimeSpan.FromMinutes(10);

    private readonly IAgentStore _agentStore;
    private readonly INodeStore _nodeStore;
    private readonly JobExecutor _executor;
    private readonly RecoveryService _recovery;
    private readonly CompletionOutbox _outbox;
    private readonly ILogger<AgentService> _logger;
    private readonly AgentOptions _options;
    private readonly IWakeBus _wakeBus;
    private readonly WakeSignal _wake;
    private readonly ConcurrentDictionary<(JobId, int), Execution> _executions = new();

    // Attempts that ended recently: a dispatch list read before their end was recorded must not start them again.
    private readonly ConcurrentDictionary<(JobId, int), DateTimeOffset> _ended = new();
    private readonly CancellationTokenSource _detach = new();
    private bool _registered;
    private bool _recovered;
    private bool _stopping;
    private DateTimeOffset _nextHeartbeat;

    // Jobs placed after this moment are this run's work, never leftovers for recovery.
    private DateTimeOffset? _firstRegistration;

    public AgentService(
        IAgentStore agentStore,
        INodeStore nodeStore,
        IWakeBus wakeBus,
        JobExecutor executor,
        RecoveryService recovery,
        CompletionOutbox outbox,
        TimeProvider time,
        IOptions<AgentOptions> options,
        ILogger<AgentService> logger)
        : base(time, logger)
    {
        _agentStore = agentStore;
        _nodeStore = nodeStore;
        _executor = executor;
        _recovery = recovery;
        _outbox = outbox;
        _logger = logger;
        _options = options.Value;
        _wakeBus = wakeBus;
        _wake = wakeBus.Subscribe(WakeTopic.Node(_options.Node()));
    }

    /// <summary>The job attempts this agent is running.</summary>
    public IReadOnlyCollection<(JobId JobId, int Attempt)> Running => _executions.Keys.ToList();

    /// <summary>The last recovery's report.</summary>
    public RecoveryReport? LastRecovery { get; private set; }

    protected override TimeSpan Interval => _options.PollInterval;

    protected override WakeSignal? Wake => _wake;

    private NodeName Node => _options.Node();

    /// <summary>Registers the node and recovers before the host goes on starting, so the first submission finds the node.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RegisterAsync(cancellationToken);
            await RecoverAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "The agent of node {Node} could not finish starting; it keeps trying", Node);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        var running = _executions.Values.Select(e => e.Task).ToArray();
        if (_options.Drain && running.Length > 0)
        {
            _logger.LogInformation("Draining: waiting for {Count} running job(s) to finish", running.Length);
            try
            {
                await Task.WhenAll(running).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning("Shutdown timed out while draining; the jobs still running are left to the next start");
            }
        }
        else if (running.Length > 0)
        {
            _logger.LogInformation("Leaving {Count} running job(s) running; the next start adopts them", running.Length);
        }

        await _detach.CancelAsync();
        await base.StopAsync(cancellationToken);
        await Task.WhenAll(_executions.Values.Select(e => e.Task)).WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    public override void Dispose()
    {
        _detach.Dispose();
        base.Dispose();
    }

    protected override async Task RunOnceAsync(CancellationToken ct)
    {
        if (!_registered)
        {
            await RegisterAsync(ct);
        }

        if (!_recovered)
        {
            await RecoverAsync(ct);
        }

        if (Time.GetUtcNow() >= _nextHeartbeat)
        {
            var state = await _nodeStore.HeartbeatAsync(Node, Time.GetUtcNow(), ct);
            _nextHeartbeat = Time.GetUtcNow() + _options.HeartbeatInterval;
            if (state is null or NodeState.Down)
            {
                // Declared dead while silent: the store has requeued or failed this node's jobs already, so every
                // execution still running here is stale. Stop them (fencing), then offer the node again.
                AgentLog.DeclaredDown(_logger, Node, _executions.Count);
                await ReconcileAsync(ct);
                await RegisterAsync(ct);
            }
        }

        await SendOutboxAsync(ct);
        if (!_stopping)
        {
            await StartDispatchesAsync(ct);
        }

        await ReconcileAsync(ct);
        ForgetOldEnds();
    }

    protected override TimeSpan NextDelay()
    {
        var untilHeartbeat = _nextHeartbeat - Time.GetUtcNow();
        return untilHeartbeat < Interval ? (untilHeartbeat > TimeSpan.Zero ? untilHeartbeat : TimeSpan.FromMilliseconds(1)) : Interval;
    }

    private async Task RegisterAsync(CancellationToken ct)
    {
        var now = Time.GetUtcNow();
        await _nodeStore.RegisterAsync(_options.ToRegistration(), now, ct);
        _firstRegistration ??= now;
        AgentLog.Registered(_logger, Node, _options.Cpus, _options.MemoryMiB);
        _registered = true;
        _nextHeartbeat = Time.GetUtcNow();

        // A node that joins (or comes back) is capacity the scheduler should use now, not at its next safety pass.
        _wakeBus.Publish(WakeTopic.Scheduler);
    }

    private async Task RecoverAsync(CancellationToken ct)
    {
        var (report, adoptions) = await _recovery.RecoverAsync(_firstRegistration, ct);
        LastRecovery = report;
        foreach (var adoption in adoptions)
        {
            var context = _executor.Adopt(adoption.Dispatch, adoption.Process, _detach.Token);
            var execution = Track(context);
            if (adoption.StopForTimeLimit)
            {
                await context.Started;
                context.Run?.Stop(StopReason.TimeLimit);
            }

            _ = execution;
        }

        _recovered = true;
    }

    private async Task StartDispatchesAsync(CancellationToken ct)
    {
        var dispatches = await _agentStore.GetDispatchesAsync(Node, ct);
        foreach (var dispatch in dispatches)
        {
            var key = (dispatch.Job.Id, dispatch.Job.Attempt);
            if (_executions.ContainsKey(key) || _ended.ContainsKey(key) || _outbox.Contains(key.Id, key.Attempt) || _stopping)
            {
                continue;
            }

            // Launches happen one at a time on this loop: a script file is never being written while another
            // job's process is being spawned.
            Track(_executor.Create(dispatch, _detach.Token));
        }
    }

    private Execution Track(JobExecutionContext context)
    {
        var key = (context.JobId, context.Attempt);
        var execution = new Execution(context);
        _executions[key] = execution;
        execution.Task = RunAsync(key, context);
        return execution;
    }

    private async Task RunAsync((JobId, int) key, JobExecutionContext context)
    {
        try
        {
            var completion = await _executor.ExecuteAsync(context);
            if (completion is not null)
            {
                _ended[key] = Time.GetUtcNow();
            }
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Execution of job {JobId} attempt {Attempt} failed", context.JobId, context.Attempt);
        }
        finally
        {
            _executions.TryRemove(key, out _);
        }
    }

    private async Task ReconcileAsync(CancellationToken ct)
    {
        if (_executions.IsEmpty)
        {
            return;
        }

        var jobs = (await _agentStore.GetNodeJobsAsync(Node, ct)).ToDictionary(j => j.JobId);
        foreach (var ((jobId, attempt), execution) in _executions)
        {
            if (execution.Context.Run is not { } run || run.Result.IsCompleted)
            {
                continue;
            }

            if (!jobs.TryGetValue(jobId, out var job) || job.Attempt != attempt)
            {
                AgentLog.Fenced(_logger, jobId, attempt, Node);
                run.Stop(StopReason.Fenced);
            }
            else if (job.State != JobState.Running)
            {
                AgentLog.NoLongerRunning(_logger, jobId, job.State);
                run.Stop(StopReason.UserCancel);
            }
            else if (job.RequeueRequested)
            {
                _logger.LogInformation("Job {JobId} attempt {Attempt}: a requeue was asked; stopping it", jobId, attempt);
                run.Stop(StopReason.Requeue);
            }
            else if (job.TimeLimit != run.TimeLimit)
            {
                // The time limit was updated while the job runs (scontrol update TimeLimit=): enforce the new one.
                _logger.LogInformation("Job {JobId}: time limit changed to {Limit}", jobId, job.TimeLimit?.ToString() ?? "UNLIMITED");
                run.ChangeTimeLimit(job.TimeLimit);
            }
        }

        await DeliverSignalsAsync(ct);
    }

    /// <summary>Delivers the signals asked for the jobs this agent runs (scancel --signal), each recorded as an event.</summary>
    private async Task DeliverSignalsAsync(CancellationToken ct)
    {
        foreach (var signal in await _agentStore.TakeSignalsAsync(Node, ct))
        {
            string detail;
            if (!_executions.TryGetValue((signal.JobId, signal.Attempt), out var execution) ||
                execution.Context.Run is not { } run || run.Result.IsCompleted)
            {
                detail = $"{SignalNames.Name(signal.Signal)} asked by {signal.RequestedBy} was not delivered: the job had no running process";
            }
            else if (signal.BatchOnly)
            {
                detail = run.SignalBatchShell(signal.Signal)
                    ? $"{SignalNames.Name(signal.Signal)} sent to the batch script, asked by {signal.RequestedBy}"
                    : $"{SignalNames.Name(signal.Signal)} asked by {signal.RequestedBy} was not delivered: the batch script had ended";
            }
            else
            {
                run.Signal(signal.Signal);
                detail = $"{SignalNames.Name(signal.Signal)} sent to the job's processes, asked by {signal.RequestedBy}";
            }

            _logger.LogInformation("Job {JobId}: {Detail}", signal.JobId, detail);
            await _agentStore.AppendEventAsync(signal.JobId, JobEventKind.Signal, detail, Time.GetUtcNow(), ct);
        }
    }

    private async Task SendOutboxAsync(CancellationToken ct)
    {
        foreach (var completion in _outbox.Snapshot())
        {
            var result = await _agentStore.FinishAsync(completion, ct);
            AgentLog.Reported(_logger, completion.JobId, completion.Attempt, completion.State, completion.ExitCode, result);
            _outbox.Remove(completion);
            JobDirectory.For(_options.ScriptsDirectory, completion.JobId, completion.Attempt).Delete();
        }
    }

    private void ForgetOldEnds()
    {
        var cutoff = Time.GetUtcNow() - EndedMemory;
        foreach (var (key, at) in _ended)
        {
            if (at < cutoff)
            {
                _ended.TryRemove(key, out _);
            }
        }
    }

    private sealed class Execution(JobExecutionContext context)
    {
        public JobExecutionContext Context { get; } = context;

        public Task Task { get; set; } = Task.CompletedTask;
    }
}
