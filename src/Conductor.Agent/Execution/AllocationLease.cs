using Conductor.Agent.Resources;
using Conductor.Core.Jobs;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Logging;
using Polly;

namespace Conductor.Agent.Execution;

/// <summary>
/// A job's hold on its node's resources. It is released exactly once, and only with an explicit decision: either
/// the attempt's end (<see cref="FinishAsync"/>), written to the store in the same transaction that frees the
/// allocation, after which the node's tracker is told and the scheduler woken; or <see cref="Detach"/>, when the
/// agent stops watching and the job runs on, holding its allocation in the store until the next start adopts it.
/// A report that cannot be written now goes to the outbox and is sent again.
/// </summary>
public sealed class AllocationLease
{
    private readonly IAgentStore _store;
    private readonly ResourceTracker _tracker;
    private readonly ResiliencePipeline _retry;
    private readonly CompletionOutbox _outbox;
    private readonly IWakeBus _bus;
    private readonly ILogger _logger;
    private readonly JobExecutionContext _context;
    private int _released;

    internal AllocationLease(
        JobExecutionContext context, IAgentStore store, ResourceTracker tracker, ResiliencePipeline retry, CompletionOutbox outbox,
        IWakeBus bus, ILogger logger)
    {
        _context = context;
        _store = store;
        _tracker = tracker;
        _retry = retry;
        _outbox = outbox;
        _bus = bus;
        _logger = logger;
        tracker.Allocate(context.JobId, context.Launch.Spec.TotalCpus);
    }

    /// <summary>Whether the lease was released, by either decision.</summary>
    public bool Released => Volatile.Read(ref _released) != 0;

    /// <summary>
    /// The agent stops watching and the job goes on: the allocation stays held in the store (the next start adopts
    /// the job), and only this agent's tracker forgets it. Nothing is written.
    /// </summary>
    public void Detach()
    {
        TakeRelease();
        _tracker.Release(_context.JobId);
    }

    /// <summary>Records the attempt's end and frees the allocation; what the store answered, or null when the report went to the outbox.</summary>
    public async Task<FinishOutcome?> FinishAsync(JobCompletion completion)
    {
        TakeRelease();
        FinishOutcome result;
        try
        {
            result = await _retry.ExecuteAsync(async ct => await _store.FinishAsync(completion, ct), CancellationToken.None);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Could not record the end of job {JobId} attempt {Attempt}; it will be sent again", completion.JobId, completion.Attempt);
            _outbox.Add(completion);
            return null;
        }
        finally
        {
            _tracker.Release(_context.JobId);
            _bus.Publish(WakeTopic.Scheduler);
        }

        // The next job's start waits for the scheduler, not for this job's files to go.
        _context.Directory?.Delete();
        return result;
    }

    private void TakeRelease()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            throw new InvalidOperationException($"The lease of job {_context.JobId} attempt {_context.Attempt} was already released.");
        }
    }
}
