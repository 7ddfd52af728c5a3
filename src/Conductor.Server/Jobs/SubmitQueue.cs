using System.Runtime.ExceptionServices;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Server.Jobs;

/// <summary>
/// Group commit of submits: the jobs of requests that arrive while an insert is being committed wait for it to end
/// and then go together in one transaction (<see cref="IJobStore.SubmitManyAsync"/>), so a burst of submits pays one
/// commit per batch instead of one per job. A lone submit commits at once on its own request's thread; nothing runs
/// in the background. The request that finds no commit under way leads: it commits what is queued, itself included,
/// then hands the lead to the first request queued meanwhile, so each request commits at most one batch.
/// </summary>
public sealed class SubmitQueue(IJobStore jobs)
{
    /// <summary>The most jobs one transaction takes, so a long burst still answers its first requests soon.</summary>
    public const int MaxBatch = 256;

    private readonly Lock _gate = new();
    private readonly List<Entry> _queued = [];
    private bool _leading;

    /// <summary>Inserts the job, alone or with others submitted meanwhile; its id, or the store's error for it alone.</summary>
    public async Task<JobId> SubmitAsync(NewJob job)
    {
        var entry = new Entry(job);
        bool lead;
        lock (_gate)
        {
            _queued.Add(entry);
            lead = !_leading;
            _leading = true;
        }

        if (!lead && await entry.Turn.Task.ConfigureAwait(false))
        {
            return entry.Result();
        }

        // The lead: this request's job is among those queued.
        List<Entry> batch;
        lock (_gate)
        {
            batch = _queued.GetRange(0, Math.Min(_queued.Count, MaxBatch));
            _queued.RemoveRange(0, batch.Count);
        }

        try
        {
            await CommitAsync(batch).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                if (_queued.Count == 0)
                {
                    _leading = false;
                }
                else
                {
                    _queued[0].Turn.SetResult(false);
                }
            }
        }

        return entry.Result();
    }

    /// <summary>
    /// Commits the batch in one transaction; when that fails, each job alone, so that one job's error (a constraint,
    /// a value the database refuses) fails only its own request.
    /// </summary>
    private async Task CommitAsync(List<Entry> batch)
    {
        // Not the request's token: the batch carries other requests' jobs, and a job is submitted or not as a whole.
        if (batch.Count > 1)
        {
            try
            {
                var ids = await jobs.SubmitManyAsync([.. batch.Select(e => e.Job)], CancellationToken.None).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Complete(ids[i], null);
                }

                return;
            }
            catch (Exception)
            {
                // Each alone, below.
            }
        }

        foreach (var entry in batch)
        {
            try
            {
                entry.Complete(await jobs.SubmitAsync(entry.Job, CancellationToken.None).ConfigureAwait(false), null);
            }
            catch (Exception e)
            {
                entry.Complete(null, e);
            }
        }
    }

    /// <summary>A queued job and, once committed, its id or its error.</summary>
    private sealed class Entry(NewJob job)
    {
        private JobId? _id;
        private Exception? _error;

        public NewJob Job { get; } = job;

        /// <summary>True when the job is committed (or failed); false hands its request the lead.</summary>
        public TaskCompletionSource<bool> Turn { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Complete(JobId? id, Exception? error)
        {
            _id = id;
            _error = error;

            // The lead's own entry was already given its turn; the others are woken here.
            Turn.TrySetResult(true);
        }

        public JobId Result()
        {
            if (_error is { } error)
            {
                ExceptionDispatchInfo.Throw(error);
            }

            return _id ?? throw new InvalidOperationException("A submit returned before its job was committed.");
        }
    }
}
