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
