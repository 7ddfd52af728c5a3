using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;

namespace Conductor.Storage.Relational;

public abstract partial class RelationalStore
{
    public async Task<int> CountPendingAsync(string owner, CancellationToken ct)
    {
        var rows = await QueryAsync(
            "SELECT COUNT(*) FROM jobs WHERE owner = @owner AND state = 'PENDING';",
            c => c.With("owner", owner),
            r => r.GetInt64(0),
            ct).ConfigureAwait(false);

        // An array's row stands for each of its unstarted tasks, as Slurm counts them.
        var unstarted = await QueryAsync(
            "SELECT array_tasks FROM jobs WHERE owner = @owner AND array_tasks IS NOT NULL AND state = 'PENDING';",
            c => c.With("owner", owner),
            r => TaskSet.Parse(r.GetString(0)).Count - 1,
            ct).ConfigureAwait(false);
        return (int)Math.Min(rows[0] + unstarted.Sum(), int.MaxValue);
    }

    public Task<UserLoad> LoadUserLoadAsync(CancellationToken ct) =>
        ReadAsync(async (connection, tx) =>
        {
            var owners = new Dictionary<JobId, string>();
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var command = Command(connection, tx, $"SELECT id, owner FROM {Dialect.PendingJobs} WHERE state = 'PENDING';"))
            {
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    var owner = r.GetString(1);
                    if (!names.TryGetValue(owner, out var shared))
                    {
                        names[owner] = shared = owner;
                    }

                    owners[new JobId(r.GetInt64(0))] = shared;
                }
            }

            var running = new Dictionary<string, UserUsage>(StringComparer.Ordinal);
            await using (var command = Command(connection, tx, """
                SELECT j.owner, COUNT(*), SUM(a.cpus)
                FROM allocations a JOIN jobs j ON j.id = a.job_id
                GROUP BY j.owner;
                """))
            {
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    running[r.GetString(0)] = new UserUsage((int)r.GetInt64(1), (int)Convert.ToInt64(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture));
                }
            }

            return new UserLoad(owners, running);
        }, ct);
}
