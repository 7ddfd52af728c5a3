using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Storage.Common;

namespace Conductor.Storage.Sqlite;

public sealed partial class SqliteStore
{
    public Task<IReadOnlyList<DownedNode>> MarkNodesDownAsync(DateTimeOffset heartbeatBefore, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<DownedNode>>(async (connection, tx) =>
        {
            var silent = new List<(string Name, DateTimeOffset? LastHeartbeat)>();
            await using (var find = Command(connection, tx, """
                SELECT name, last_heartbeat FROM nodes
                WHERE state = 'Up' AND (last_heartbeat IS NULL OR last_heartbeat < @before)
                ORDER BY name;
                """))
            {
                find.Parameters.AddWithValue("@before", SqlValues.ToMs(heartbeatBefore));
                await using var reader = await find.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    silent.Add((reader.GetString(0), reader.GetTimeOrNull(1)));
                }
            }

            var downed = new List<DownedNode>();
            foreach (var (name, lastHeartbeat) in silent)
            {
                var reason = NodeDownReason(name, lastHeartbeat);
                await using (var mark = Command(connection, tx, "UPDATE nodes SET state = 'Down', state_reason = @reason WHERE name = @name AND state = 'Up';"))
                {
                    mark.Parameters.AddWithValue("@name", name);
                    mark.Parameters.AddWithValue("@reason", reason);
                    await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                var jobs = new List<(JobId Id, int Attempt, bool Requeue)>();
                await using (var running = Command(connection, tx, "SELECT id, attempt, requeue FROM jobs WHERE state = 'RUNNING' AND node = @name ORDER BY id;"))
                {
                    running.Parameters.AddWithValue("@name", name);
                    await using var reader = await running.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        jobs.Add((new JobId(reader.GetInt64(0)), reader.GetInt32(1), reader.GetBoolean(2)));
                    }
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
                          """);
                    update.Parameters.AddWithValue("@error", error);
                    update.Parameters.AddWithValue("@now", SqlValues.ToMs(now));
                    update.Parameters.AddWithValue("@id", id.Value);
                    update.Parameters.AddWithValue("@attempt", attempt);
                    if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                    {
                        continue;
                    }

                    await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false);
                    var state = requeue ? JobState.Pending : JobState.NodeFail;
                    await InsertEventAsync(connection, tx, id, now, requeue ? JobEventKind.Requeued : JobEventKind.Finished,
                        StoreValues.FinishedDetail(state, ExitCode.Success, error), ct).ConfigureAwait(false);
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
