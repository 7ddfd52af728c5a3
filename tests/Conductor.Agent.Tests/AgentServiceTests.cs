using System.Collections.Concurrent;
using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conductor.Agent.Tests;

/// <summary>The agent service with real processes and an in-memory store.</summary>
[Collection(ProcessCollection.Name)]
public sealed class AgentServiceTests : IDisposable
{
    private static readonly NodeName Node = new("node1");
    private readonly TempDirectory _temp = new();
    private readonly RecordingStore _store = new();
    private readonly InProcessWakeBus _bus = new();
    private readonly ServiceProvider _provider;
    private readonly AgentService _service;

    public AgentServiceTests()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IAgentStore>(_store);
        services.AddSingleton<INodeStore>(_store);
        services.AddSingleton<IWakeBus>(_bus);
        services.AddConductorAgent(o =>
        {
            o.NodeName = Node.Value;
            o.Cpus = 4;
            o.MemoryMiB = 4096;
            o.ScriptsDirectory = _temp.Combine("scripts");
            o.PollInterval = TimeSpan.FromMilliseconds(50);
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
            o.KillWait = TimeSpan.FromSeconds(1);
        });
        _provider = services.BuildServiceProvider();
        _service = _provider.GetRequiredService<AgentService>();
    }

    public void Dispose()
    {
        _provider.Dispose();
        _temp.Dispose();
    }

    private JobRecord Job(long id, int attempt = 1) => new()
    {
        Id = new JobId(id),
        Spec = new JobSpec { Name = "svc", Account = "alice", Partition = "batch", WorkDir = _temp.Combine("work") },
        State = JobState.Running,
        SubmitTime = DateTimeOffset.UtcNow,
        Attempt = attempt,
        Node = Node,
    };

    private async Task<JobCompletion> CompletionAsync(long id)
    {
        JobCompletion? completion = null;
        Assert.True(await Poll.TrueAsync(() => _store.Completions.TryGetValue(new JobId(id), out completion), TimeSpan.FromSeconds(20)),
            $"job {id} was not reported");
        return completion!;
    }

    [Fact]
    public async Task ExecuteAsync_LaunchesAndReports_WhenJobIsDispatched()
    {
        var scheduler = _bus.Subscribe(WakeTopic.Scheduler);
        _store.Dispatch(Job(1), "echo hello");
        await _service.StartAsync(CancellationToken.None);

        var completion = await CompletionAsync(1);
        await _service.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Completed, completion.State);
        Assert.Equal(ExitCode.Success, completion.ExitCode);
        Assert.True(_store.Launches.TryGetValue(new JobId(1), out var launch));
        Assert.Equal("hello\n", File.ReadAllText(launch.StdoutPath));
        Assert.True(_store.Registered);
        Assert.True(_store.Heartbeats > 0);
        Assert.True(await scheduler.WaitAsync(TimeSpan.Zero, TimeProvider.System, CancellationToken.None));
    }

    [Fact]
    public async Task ExecuteAsync_StopsJob_WhenStoreSaysItWasCancelled()
    {
        _store.Dispatch(Job(2), "sleep 300");
        await _service.StartAsync(CancellationToken.None);
        Assert.True(await Poll.TrueAsync(() => _store.Launches.ContainsKey(new JobId(2))));

        _store.SetState(new JobId(2), JobState.Cancelled);
        _bus.Publish(WakeTopic.Node(Node));
        var completion = await CompletionAsync(2);
        await _service.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Cancelled, completion.State);
    }

    [Fact]
    public async Task ExecuteAsync_StopsJob_WhenMarkLaunchedReturnsFalse()
    {
        _store.LaunchWanted = false;
        _store.Dispatch(Job(3), "sleep 300");
        await _service.StartAsync(CancellationToken.None);

        var completion = await CompletionAsync(3);
        await _service.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Cancelled, completion.State);
    }

    [Fact]
    public async Task StopAsync_LeavesRunningJobsRunning_WhenNotDraining()
    {
        _store.Dispatch(Job(4), "sleep 300");
        await _service.StartAsync(CancellationToken.None);
        Assert.True(await Poll.TrueAsync(() => _store.Launches.ContainsKey(new JobId(4))));
        var launch = _store.Launches[new JobId(4)];
        var process = new LaunchedProcess(launch.ProcessId, launch.ProcessStartTicks);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _service.StopAsync(timeout.Token);

        Assert.False(_store.Completions.ContainsKey(new JobId(4)));
        Assert.True(process.IsAlive, "the job goes on, to be adopted at the next start");
        new PosixSignalSender(NullLogger<PosixSignalSender>.Instance).SignalJob(process, 9);
        Assert.True(await Poll.TrueAsync(() => !process.IsAlive));
    }

    [Fact]
    public async Task ExecuteAsync_KeepsRunning_WhenStoreFailsTransiently()
    {
        _store.FailuresLeft = 3;
        _store.Dispatch(Job(5), "exit 4");
        await _service.StartAsync(CancellationToken.None);

        var completion = await CompletionAsync(5);
        await _service.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Failed, completion.State);
        Assert.Equal(ExitCode.Exited(4), completion.ExitCode);
        Assert.Equal("Exited with code 4", completion.ErrorMessage);
        Assert.Contains(completion.Events!, e => e.Kind == JobEventKind.Stage && e.Detail == "CleanedUp");
    }

    [Fact]
    public async Task ExecuteAsync_ReportsFailure_WhenWorkDirCannotBeCreated()
    {
        _store.Dispatch(Job(6) with { Spec = Job(6).Spec with { WorkDir = "/proc/conductor-no-such-dir" } }, "echo");
        await _service.StartAsync(CancellationToken.None);

        var completion = await CompletionAsync(6);
        await _service.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Failed, completion.State);
        Assert.StartsWith("could not create the working directory /proc/conductor-no-such-dir:", completion.ErrorMessage, StringComparison.Ordinal);
        Assert.False(_store.Launches.ContainsKey(new JobId(6)));
    }

    [Fact]
    public async Task ExecuteAsync_LaunchesOnce_WhenDispatchesAreStaleAndReportsFail()
    {
        _store.StaleDispatches = true;
        _store.FinishFailuresLeft = 3;
        _store.Dispatch(Job(7), "echo run >> runs.txt\nsleep 0.3");
        await _service.StartAsync(CancellationToken.None);

        var completion = await CompletionAsync(7);
        await _service.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Completed, completion.State);
        Assert.Equal(["run"], File.ReadAllLines(_temp.Combine("work", "runs.txt")));
    }
}
