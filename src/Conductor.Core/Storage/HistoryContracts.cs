using Conductor.Core.Jobs;

namespace Conductor.Core.Storage;

/// <summary>What the history of ended jobs can be ordered by.</summary>
public enum HistorySort
{
    /// <summary>End time (the default: the latest first).</summary>
    EndTime,

    /// <summary>seff's CPU efficiency: CPU time over elapsed × the CPUs held.</summary>
    CpuEfficiency,

    /// <summary>seff's memory efficiency: peak resident memory over the memory reserved.</summary>
    MemoryEfficiency,
}

/// <summary>
/// Where a page of history ends: the sort key of its last job and that job's id. Efficiencies are fractions (0.75,
/// not 75); a job whose efficiency is unknown sorts as -1, after every known one in descending order.
/// </summary>
public readonly record struct HistoryCursor(double Key, long Id);

/// <summary>A filter and keyset page over ended jobs.</summary>
public sealed record HistoryQuery
{
    /// <summary>Final states only; null or empty for all of them.</summary>
    public IReadOnlyList<JobState>? States { get; init; }

    public string? Account { get; init; }

    /// <summary>Only the jobs of this user (who may see only their own).</summary>
    public string? Owner { get; init; }
    public string? Partition { get; init; }

    /// <summary>A part of the job's name, matched without regard to case.</summary>
    public string? Name { get; init; }

    /// <summary>Jobs that ended at or after this time.</summary>
    public DateTimeOffset? EndedFrom { get; init; }

    /// <summary>Jobs that ended before this time.</summary>
    public DateTimeOffset? EndedTo { get; init; }

    public HistorySort Sort { get; init; } = HistorySort.EndTime;

    /// <summary>Smallest first; by default the largest (or latest) comes first.</summary>
    public bool Ascending { get; init; }

    public HistoryCursor? After { get; init; }
    public int Limit { get; init; } = 50;
}

/// <summary>One page of history, and the cursor of the next page when there may be one.</summary>
public sealed record HistoryPage(IReadOnlyList<JobRecord> Jobs, HistoryCursor? Next);

/// <summary>Jobs that started and ended in a span of time, and the median wait (eligible → start) of those that started.</summary>
public sealed record JobActivity(int Started, int Finished, double? MedianWaitSeconds);

/// <summary>
/// One minute of the cluster, as the charts draw it: CPUs (and GPUs, when nodes have them) allocated and in total
/// at the end of the minute, pending and running jobs then, jobs started and ended within it and their median wait.
/// </summary>
public sealed record ClusterSample(
    DateTimeOffset Minute,
    int CpusTotal,
    int CpusAllocated,
    int? GpusTotal,
    int? GpusAllocated,
    long Pending,
    long Running,
    int Started,
    int Finished,
    double? MedianWaitSeconds);

/// <summary>The history of ended jobs and the per-minute samples of the cluster: what the dashboard's history and charts read.</summary>
public interface IHistoryStore
{
    Task<HistoryPage> ListHistoryAsync(HistoryQuery query, CancellationToken ct);

    /// <summary>Jobs started and ended in [<paramref name="from"/>, <paramref name="to"/>), with the median wait of those started.</summary>
    Task<JobActivity> GetActivityAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct);

    /// <summary>Writes the sample of its minute, replacing one written before for the same minute.</summary>
    Task SaveSampleAsync(ClusterSample sample, CancellationToken ct);

    /// <summary>The samples of the minutes in [<paramref name="from"/>, <paramref name="to"/>), oldest first.</summary>
    Task<IReadOnlyList<ClusterSample>> ListSamplesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct);

    /// <summary>Deletes the samples of minutes before <paramref name="before"/>; returns how many.</summary>
    Task<int> PurgeSamplesAsync(DateTimeOffset before, CancellationToken ct);
}
