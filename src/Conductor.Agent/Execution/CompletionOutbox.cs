using System.Collections.Concurrent;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Agent.Execution;

/// <summary>
/// Ends of attempts whose report did not reach the store yet. The agent's loop sends them again until one gets
/// through; until then the attempt counts as running here, so it is never launched twice.
/// </summary>
public sealed class CompletionOutbox
{
    private readonly ConcurrentDictionary<(JobId, int), JobCompletion> _pending = new();

    public int Count => _pending.Count;

    public void Add(JobCompletion completion) => _pending[(completion.JobId, completion.Attempt)] = completion;

    public bool Contains(JobId job, int attempt) => _pending.ContainsKey((job, attempt));

    public IReadOnlyList<JobCompletion> Snapshot() => _pending.Values.ToList();

    public void Remove(JobCompletion completion) => _pending.TryRemove((completion.JobId, completion.Attempt), out _);
}
