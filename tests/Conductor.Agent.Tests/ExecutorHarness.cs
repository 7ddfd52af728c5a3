using System.Collections.Concurrent;
using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Monitoring;
using Conductor.Agent.Pipeline;
using Conductor.Agent.Processes;
using Conductor.Agent.Resources;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conductor.Agent.Tests;

/// <summary>One attempt started through the real executor, and what became of it.</summary>
public sealed class RunHandle(JobExecutionContext context, Task<JobCompletion?> completion)
{
    public JobExecutionContext Context { get; } = context;
    public Task<JobCompletion?> Completion { get; } = completion;
    public JobLaunch Launch => Context.Launch;
    public JobId JobId => Context.JobId;
    public LaunchedProcess? Process => Context.Process;
    public string? StdoutPath => Context.StdoutPath;
    public string? StderrPath => Context.StderrPath;

    public Task<JobOutcome> Outcome => Completion.ContinueWith(
        t => t.IsFaulted ? throw t.Exception! : Context.Outcome ?? JobOutcome.Detached,
        CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Waits for the process to start, then stops it.</summary>
    public async Task StopAsync(StopReason reason)
    {
        await Context.Started;
        Context.Run?.Stop(reason);
    }
}

/// <summary>
/// The real executor, launcher, signals, cgroups, monitor and pipeline, built through the same DI registration as
/// the agent, over a recording in-memory store; for tests with real processes.
/// </summary>
public sealed class ExecutorHarness : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly CancellationTokenSource _detach = new();

    public ExecutorHarness(AgentOptions options, Action<IServiceCollection>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(NullLoggerProvider.Instance));
        services.AddSingleton<IAgentStore>(Store);
        services.AddSingleton<INodeStore>(Store);
        services.AddSingleton<IWakeBus, InProcessWakeBus>();
        services.AddConductorAgent(o =>
        {
            o.NodeName = options.NodeName;
            o.ScriptsDirectory = options.ScriptsDirectory;
            o.KillWait = options.KillWait;
            o.MonitorInterval = options.MonitorInterval;
            o.Cpus = options.Cpus;
            o.PinCpus = options.PinCpus;
            o.UseCgroups = options.UseCgroups;
        });
        configure?.Invoke(services);
        _services = services.BuildServiceProvider();
        Executor = _services.GetRequiredService<JobExecutor>();
        Monitor = _services.GetRequiredService<ProcessMonitor>();
        Monitor.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    public RecordingStore Store { get; } = new();
    public JobExecutor Executor { get; }
    public ProcessMonitor Monitor { get; }

    public T Get<T>()
        where T : notnull => _services.GetRequiredService<T>();

    public RunHandle Start(JobLaunch launch)
    {
        var job = launch.Job with { State = JobState.Running, SubmitTime = DateTimeOffset.UtcNow, StartTime = DateTimeOffset.UtcNow, Node = launch.Node };
        var context = Executor.Create(new Dispatch(job, launch.Script), _detach.Token);
        return new RunHandle(context, Task.Run(() => Executor.ExecuteAsync(context)));
    }

    /// <summary>The agent stops watching (shutdown without drain).</summary>
    public void Detach() => _detach.Cancel();

    public void Dispose()
    {
        Monitor.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        _detach.Cancel();
        _detach.Dispose();
        _services.Dispose();
    }
}

/// <summary>An in-memory store that records what the agent wrote.</summary>
public sealed class RecordingStore : IAgentStore, INodeStore
{
    public ConcurrentDictionary<JobId, LaunchRecord> Launches { get; } = new();
    public ConcurrentQueue<JobCompletion> Finishes { get; } = new();
    public ConcurrentQueue<AgentEvent> Events { get; } = new();
    public bool LaunchWanted { get; set; } = true;
    public int FailuresBeforeFinish { get; set; }

    /// <summary>When set, recording a launch waits for it (or for the caller's cancellation) after signalling <see cref="LaunchRecording"/>.</summary>
    public TaskCompletionSource? LaunchGate { get; set; }

    public TaskCompletionSource LaunchRecording { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct)
    {
        if (LaunchGate is { } gate)
        {
            LaunchRecording.TrySetResult();
            await gate.Task.WaitAsync(ct);
        }

        Launches[id] = launch;
        foreach (var e in launch.Events ?? [])
        {
            Events.Enqueue(e);
        }

        return LaunchWanted;
    }

    public Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct)
    {
        if (FailuresBeforeFinish > 0)
        {
            FailuresBeforeFinish--;
            throw new TimeoutException("the store did not answer");
        }

        foreach (var e in completion.Events ?? [])
        {
            Events.Enqueue(e);
        }

        Finishes.Enqueue(completion);
        return Task.FromResult(FinishOutcome.Finished);
    }

    public Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<Dispatch>>([]);

    public Task<IReadOnlyList<Dispatch>> GetAssignedAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<Dispatch>>([]);

    public Task<int> ReleaseStaleAllocationsAsync(NodeName node, CancellationToken ct) => Task.FromResult(0);

    public Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<NodeJob>>([]);

    public Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct) => Task.CompletedTask;

    public Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct) => Task.CompletedTask;

    public Task RegisterAsync(NodeRegistration node, DateTimeOffset now, CancellationToken ct) => Task.CompletedTask;

    public Task<NodeState?> HeartbeatAsync(NodeName node, DateTimeOffset now, CancellationToken ct) => Task.FromResult<NodeState?>(NodeState.Up);

    public Task<IReadOnlyList<DownedNode>> MarkNodesDownAsync(DateTimeOffset heartbeatBefore, DateTimeOffset now, CancellationToken ct) =>
        throw new NotSupportedException();

    public Task RecordRecoveryAsync(NodeName node, RecoveryReport report, CancellationToken ct) => Task.CompletedTask;

    public Task<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<NodeRecord>>([]);
}
