using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

public abstract partial class RelationalStore
{
    public Task<IReadOnlyList<DownedNode>> MarkNodesDownAsync(DateTimeOffset heartbeatBefore, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<DownedNode>>(async (connection, tx) =>
        {
            // Lock the silent nodes first, then their jobs (the scheduler's commit takes them in the same order): a
            // heartbeat that arrives meanwhile waits, then finds the node Down.
            List<(string Name, DateTimeOffset? LastHeartbeat)> silent;
            await using (var find = Command(connection, tx, $"""
                    SELECT name, last_heartbeat FROM nodes
                    WHERE state = 'Up' AND (last_heartbeat IS NULL OR last_heartbeat < @before)
                    ORDER BY name{Dialect.ByteOrder}{Dialect.LockRows};
                    """).With("before", heartbeatBefore))
            {
                silent = await ReadAllAsync(find, r => (r.GetString(0), r.GetTimeOrNull(1)), ct).ConfigureAwait(false);
            }

            var downed = new List<DownedNode>();
            foreach (var (name, lastHeartbeat) in silent)
            {
                var reason = NodeDownReason(name, lastHeartbeat);
                await using (var mark = Command(connection, tx, "UPDATE nodes SET state = 'Down', state_reason = @reason WHERE name = @name AND state = 'Up';")
                    .With("name", name)
                    .With("reason", reason))
                {
                    await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                List<(JobId Id, int Attempt, bool Requeue)> jobs;
                await using (var running = Command(connection, tx, $"SELECT id, attempt, requeue FROM jobs WHERE state = 'RUNNING' AND node = @name ORDER BY id{Dialect.LockRows};")
                    .With("name", name))
                {
                    jobs = await ReadAllAsync(running, r => (new JobId(r.GetInt64(0)), r.GetInt32(1), r.GetBoolean(2)), ct).ConfigureAwait(false);
                }

                var requeued = new List<JobId>();
                var failed = new List<JobId>();
                foreach (var (id, attempt, requeue) in jobs)
                {
                    var end = JobTransitions.Lost(JobState.NodeFail, reason, requeue, attempt);
                    var completion = new JobCompletion(id, attempt, end.State, ExitCode.Success, end.Error, now);
                    if (await EndAttemptAsync(connection, tx, completion, ct).ConfigureAwait(false))
                    {
                        (end.Requeued ? requeued : failed).Add(id);
                    }
                }

                downed.Add(new DownedNode(new NodeName(name), lastHeartbeat, requeued, failed));
            }

            return downed;
        }, ct);

    private static string NodeDownReason(string node, DateTimeOffset? lastHeartbeat) =>
        lastHeartbeat is { } last
            ? string.Create(CultureInfo.InvariantCulture, $"node {node} stopped responding (last heartbeat {last.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC)")
            : $"node {node} stopped responding";
}
