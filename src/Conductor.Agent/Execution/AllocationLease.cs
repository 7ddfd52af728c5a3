using Conductor.Agent.Resources;
using Conductor.Core.Jobs;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Logging;
using Polly;

namespace Conductor.Agent.Execution;

/// <summary>
/// A job's hold on its node's resources, as a scope: <c>await using var lease = ...</c>. Leaving the scope
/// releases it exactly once, however the scope is left: the attempt's end (or, if none was set, a failure naming
/// the fault) is written to the store in the same transaction that frees the allocation, the node's tracker is
/// told, and the scheduler is woken. A report that cannot be written now goes to the outbox and is sent again.
/// </summary>
public sealed class AllocationLease : IAsyncDisposable
{
    private readonly IAgentStore _store;
    private readonly ResourceTracker _tracker;
    private readonly ResiliencePipeline _retry;
    private readonly CompletionOutbox _outbox;
    private readonly IWakeBus _bus;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly JobExecutionContext _context;
    private JobCompletion? _completion;
    private int _released;
    private bool _detached;

    internal AllocationLease(
        JobExecutionContext context, IAgentStore store, ResourceTracker tracker, ResiliencePipeline retry, CompletionOutbox outbox,
        IWakeBus bus, TimeProvider time, ILogger logger)
    {
        _context = context;
        _store = store;
        _tracker = tracker;
        _retry = retry;
        _outbox = outbox;
        _bus = bus;
        _time = time;
        _logger = logger;
        tracker.Allocate(context.JobId, context.Launch.TotalCpus);
    }

    /// <summary>What the store records when the lease is released.</summary>
    public void Complete(JobCompletion completion) => _completion = completion;

    /// <summary>The agent stops watching and the job goes on: the allocation stays held, in the store and here.</summary>
    public void Detach() => _detached = true;

    /// <summary>What was written, once the lease is released.</summary>
    public FinishOutcome? Result { get; private set; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }

        if (_detached)
        {
            _tracker.Release(_context.JobId);
            return;
        }

        var completion = _completion ?? new JobCompletion(
            _context.JobId,
            _context.Attempt,
            JobState.Failed,
            JobOutcome.LaunchFailureExitCode,
            "the agent failed while running the job: " + (_context.Error?.Message ?? "no result was recorded"),
            _time.GetUtcNow(),
            Events: _context.TakeEvents());
        try
        {
            Result = await _retry.ExecuteAsync(async ct => await _store.FinishAsync(completion, ct), CancellationToken.None);
            _context.Directory?.Delete();
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Could not record the end of job {JobId} attempt {Attempt}; it will be sent again", completion.JobId, completion.Attempt);
            _outbox.Add(completion);
        }
        finally
        {
            _tracker.Release(_context.JobId);
            _bus.Publish(WakeTopic.Scheduler);
        }
    }
}
