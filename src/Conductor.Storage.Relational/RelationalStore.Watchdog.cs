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
                    var error = requeue ? reason + "; requeued as the job asked" : reason;
                    await using var update = Command(connection, tx, requeue
                            ? """
                              UPDATE jobs SET state = 'PENDING', reason = NULL, exit_code = '0:0', error_msg = @error,
                                  node = NULL, cores = NULL, start_time = NULL, end_time = NULL, eligible_time = @now,
                                  pid = NULL, pid_start_ticks = NULL, launched_time = NULL
                              WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
                              """
                            : """
                              UPDATE jobs SET state = 'NODE_FAIL', reason = NULL, exit_code = '0:0', error_msg = @error, end_time = @now
                              WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
                              """)
                        .With("error", error)
                        .With("now", now)
                        .With("id", id.Value)
                        .With("attempt", attempt);
                    if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                    {
                        continue;
                    }

                    await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false);
                    var state = requeue ? JobState.Pending : JobState.NodeFail;
                    await InsertEventsAsync(connection, tx, id, [new AgentEvent(now, requeue ? JobEventKind.Requeued : JobEventKind.Finished,
                        StoreValues.FinishedDetail(state, ExitCode.Success, error))], ct).ConfigureAwait(false);
                    (requeue ? requeued : failed).Add(id);
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
