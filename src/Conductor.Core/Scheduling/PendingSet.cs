using Conductor.Core.Jobs;

namespace Conductor.Core.Scheduling;

/// <summary>
/// A position in the store's log of changes to pending jobs: every change at or before it has been read. Changes are
/// ordered by the writing transaction's id, then by their sequence number (see the store's <c>job_changes</c>).
/// </summary>
public readonly record struct ChangeMark(long Transaction, long Sequence) : IComparable<ChangeMark>
{
    public int CompareTo(ChangeMark other) =>
        Transaction != other.Transaction ? Transaction.CompareTo(other.Transaction) : Sequence.CompareTo(other.Sequence);

    public static bool operator <(ChangeMark left, ChangeMark right) => left.CompareTo(right) < 0;

    public static bool operator >(ChangeMark left, ChangeMark right) => left.CompareTo(right) > 0;

    public static bool operator <=(ChangeMark left, ChangeMark right) => left.CompareTo(right) <= 0;

    public static bool operator >=(ChangeMark left, ChangeMark right) => left.CompareTo(right) >= 0;

    public static ChangeMark Max(ChangeMark left, ChangeMark right) => left >= right ? left : right;
}

/// <summary>
/// The pending jobs as the scheduler last read them, kept between passes: the store loads them all once, then only
/// the jobs changed since <see cref="Mark"/> (submitted, cancelled, held, released, updated, started, requeued, by any
/// server). The database stays the truth: a new set (after a restart or a change of leader) is loaded whole, and a
/// plan made from a stale entry is refused by the guarded commit.
/// </summary>
public sealed class PendingSet
{
    private readonly Dictionary<JobId, PendingJob> _jobs = [];
    private List<PendingJob>? _list;

    /// <summary>
    /// Two lists taken in turn, so that a pass at 100,000 jobs builds its list without a new array on the large object
    /// heap; the list handed out stays as it is until <see cref="Jobs"/> is rebuilt twice more.
    /// </summary>
    private readonly List<PendingJob>[] _buffers = [[], []];
    private int _turn;

    /// <summary>The order the last pass took the jobs in, and the jobs loaded since (they go last, in no order).</summary>
    private IReadOnlyList<JobId>? _order;
    private readonly HashSet<JobId> _fresh = [];

    /// <summary>Null until the first whole load.</summary>
    public ChangeMark? Mark { get; private set; }

    public int Count => _jobs.Count;

    /// <summary>
    /// The pending jobs: in the order of <see cref="Reorder"/> followed by the jobs loaded since, else in no particular
    /// order (the policy orders them either way; a known order only spares it work). The list is the set's own and is
    /// refilled two rebuilds later: a pass reads it and keeps no reference to it.
    /// </summary>
    public IReadOnlyList<PendingJob> Jobs => _list ??= Build();

    /// <summary>Hands the next passes their jobs in <paramref name="order"/> (the last pass's priority order).</summary>
    public void Reorder(IReadOnlyList<JobId> order)
    {
        ArgumentNullException.ThrowIfNull(order);
        _order = order;
        _fresh.Clear();
        _list = null;
    }

    private List<PendingJob> Build()
    {
        var list = _buffers[_turn];
        _turn ^= 1;
        list.Clear();
        if (_order is null)
        {
            list.AddRange(_jobs.Values);
            return list;
        }

        foreach (var id in _order)
        {
            if (!_fresh.Contains(id) && _jobs.TryGetValue(id, out var job))
            {
                list.Add(job);
            }
        }

        foreach (var id in _fresh)
        {
            if (_jobs.TryGetValue(id, out var job))
            {
                list.Add(job);
            }
        }

        // Whatever the order missed (it came from a pass that did not see every job).
        if (list.Count != _jobs.Count)
        {
            var listed = list.Select(j => j.Id).ToHashSet();
            list.AddRange(_jobs.Values.Where(j => !listed.Contains(j.Id)));
        }

        return list;
    }

    /// <summary>Replaces everything with a whole load read at <paramref name="mark"/>.</summary>
    public void Reset(IEnumerable<PendingJob> jobs, ChangeMark mark)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        _jobs.Clear();
        foreach (var job in jobs)
        {
            _jobs[job.Id] = job;
        }

        _list = null;
        _order = null;
        _fresh.Clear();
        Mark = mark;
    }

    /// <summary>
    /// Applies the changes read after <see cref="Mark"/>: each changed job takes its current row when it is still
    /// pending and leaves the set otherwise. Applying a change twice is harmless.
    /// </summary>
    public void Apply(IReadOnlyCollection<JobId> changed, IEnumerable<PendingJob> current, ChangeMark mark)
    {
        ArgumentNullException.ThrowIfNull(changed);
        ArgumentNullException.ThrowIfNull(current);
        if (Mark is null)
        {
            throw new InvalidOperationException("A pending set is loaded whole before changes are applied to it.");
        }

        if (changed.Count > 0)
        {
            foreach (var id in changed)
            {
                _jobs.Remove(id);
            }

            foreach (var job in current)
            {
                _jobs[job.Id] = job;
            }

            if (_order is not null)
            {
                _fresh.UnionWith(changed);
            }

            _list = null;
        }

        Mark = ChangeMark.Max(Mark.Value, mark);
    }
}
