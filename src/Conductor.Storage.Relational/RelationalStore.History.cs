using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

/// <summary>The history of ended jobs and the cluster's per-minute samples.</summary>
public abstract partial class RelationalStore : IHistoryStore
{
    public Task<HistoryPage> ListHistoryAsync(HistoryQuery query, CancellationToken ct) =>
        ReadAsync((connection, tx) => HistoryQueries.ListHistoryAsync(connection, tx, query, ct), ct);

    public Task<JobActivity> GetActivityAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        ReadAsync((connection, tx) => HistoryQueries.GetActivityAsync(connection, tx, from, to, ct), ct);

    public Task SaveSampleAsync(ClusterSample sample, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            await HistoryQueries.SaveSampleAsync(connection, tx, sample, ct).ConfigureAwait(false);
            return true;
        }, ct);

    public Task<IReadOnlyList<ClusterSample>> ListSamplesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        ReadAsync((connection, tx) => HistoryQueries.ListSamplesAsync(connection, tx, from, to, ct), ct);

    public Task<int> PurgeSamplesAsync(DateTimeOffset before, CancellationToken ct) =>
        WriteAsync((connection, tx) => HistoryQueries.PurgeSamplesAsync(connection, tx, before, ct), ct);
}
