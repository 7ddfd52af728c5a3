using System.Collections.Concurrent;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Agent.Tests;

/// <summary>
/// An in-memory store of one fresh node for the agent's tests: it offers the jobs a test dispatches, records what
/// the agent wrote (launches, ends, events), and can fail, be slow or answer stale on demand.
/// </summary>
public sealed class RecordingStore : IAgentStore, INodeStore
{
    private readonly ConcurrentDictionary<JobId, (JobRecord Job, string Script)> _jobs = new();
    private int _failuresLeft;
    private int _finishFailuresLeft;
    private int _heartbeats;

    public ConcurrentDictionary<JobId, LaunchRecord> Launches { get; } = new();

    /// <summary>The ends written, in order.</summary>
    public ConcurrentQueue<JobCompletion> Finishes { get; } = new();

    /// <summary>The ends written, by job.</summary>
    public ConcurrentDictionary<JobId, JobCompletion> Completions { get; } = new();

    public ConcurrentQueue<AgentEvent> Events { get; } = new();
    public bool Registered { get; private set; }
    public int Heartbeats => Volatile.Read(ref _heartbeats);

    /// <summary>What recording a launch answers: false when the job was cancelled meanwhile.</summary>
    public bool LaunchWanted { get; set; } = true;

    /// <summary>Keeps offering launched jobs as dispatches, as a store read before the launch was recorded would.</summary>
    public bool StaleDispatches { get; set; }

    /// <summary>How many of the next registrations, dispatch reads and ends fail as an unavailable store would.</summary>
    public int FailuresLeft
    {
        get => Volatile.Read(ref _failuresLeft);
        set => Volatile.Write(ref _failuresLeft, value);
    }

    /// <summary>How many of the next ends fail as an unavailable store would.</summary>
    public int FinishFailuresLeft
    {
        get => Volatile.Read(ref _finishFailuresLeft);
        set => Volatile.Write(ref _finishFailuresLeft, value);
    }

    /// <summary>When set, recording a launch waits for it (or for the caller's cancellation) after signalling <see cref="LaunchRecording"/>.</summary>
    public TaskCompletionSource? LaunchGate { get; set; }

    public TaskCompletionSource LaunchRecording { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Dispatch(JobRecord job, string script) => _jobs[job.Id] = (job, script);

    public void SetState(JobId id, JobState state) => _jobs[id] = (_jobs[id].Job with { State = state }, _jobs[id].Script);

    public Task RegisterAsync(NodeRegistration node, DateTimeOffset now, CancellationToken ct)
    {
        MaybeFail(ref _failuresLeft);
        Registered = true;
        return Task.CompletedTask;
    }

    public Task<NodeState?> HeartbeatAsync(NodeName node, DateTimeOffset now, CancellationToken ct)
    {
        Interlocked.Increment(ref _heartbeats);
        return Task.FromResult<NodeState?>(NodeState.Up);
    }

    public Task<IReadOnlyList<DownedNode>> MarkNodesDownAsync(DateTimeOffset heartbeatBefore, DateTimeOffset now, CancellationToken ct) =>
        throw new NotSupportedException();

    public Task<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<NodeRecord>>([]);

    public Task RecordRecoveryAsync(NodeName node, RecoveryReport report, CancellationToken ct) => Task.CompletedTask;

    // A fresh node: nothing was running before this agent started.
    public Task<IReadOnlyList<Dispatch>> GetAssignedAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<Dispatch>>([]);

    public Task<int> ReleaseStaleAllocationsAsync(NodeName node, CancellationToken ct) => Task.FromResult(0);

    public Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct)
    {
        MaybeFail(ref _failuresLeft);
        IReadOnlyList<Dispatch> result = _jobs.Values
            .Where(j => j.Job.State == JobState.Running && (StaleDispatches || !Launches.ContainsKey(j.Job.Id)) && !Completions.ContainsKey(j.Job.Id))
            .Select(j => new Dispatch(j.Job, j.Script))
            .ToList();
        return Task.FromResult(result);
    }

    public async Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct)
    {
        if (LaunchGate is { } gate)
        {
            LaunchRecording.TrySetResult();
            await gate.Task.WaitAsync(ct);
        }

        Launches[id] = launch;
        Record(launch.Events);
        return LaunchWanted;
    }

    public Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct)
    {
        MaybeFail(ref _failuresLeft);
        MaybeFail(ref _finishFailuresLeft);
        Record(completion.Events);
        Finishes.Enqueue(completion);
        Completions[completion.JobId] = completion;
        return Task.FromResult(FinishOutcome.Finished);
    }

    public Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct)
    {
        IReadOnlyList<NodeJob> result = _jobs.Values
            .Where(j => !Completions.ContainsKey(j.Job.Id))
            .Select(j => new NodeJob(j.Job.Id, j.Job.Attempt, j.Job.State, Launches.ContainsKey(j.Job.Id), null, null) { TimeLimit = j.Job.Spec.TimeLimit })
            .ToList();
        return Task.FromResult(result);
    }

    public Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct) => Task.CompletedTask;

    public Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct) => Task.CompletedTask;

    public Task<IReadOnlyList<PendingSignal>> TakeSignalsAsync(NodeName node, CancellationToken ct) => Task.FromResult<IReadOnlyList<PendingSignal>>([]);

    public Task<bool> SetDrainAsync(NodeName node, NodeDrain? drain, CancellationToken ct) => Task.FromResult(true);

    private void Record(IReadOnlyList<AgentEvent>? events)
    {
        foreach (var e in events ?? [])
        {
            Events.Enqueue(e);
        }
    }

    private static void MaybeFail(ref int failuresLeft)
    {
        if (Interlocked.Decrement(ref failuresLeft) >= 0)
        {
            throw new TimeoutException("the store is briefly unavailable");
        }
    }
}
