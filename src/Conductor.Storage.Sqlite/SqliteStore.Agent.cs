using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Storage.Common;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Conductor.Storage.Sqlite;

public sealed partial class SqliteStore
{
    public Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct) =>
        ReadDispatchesAsync(node, "AND j.launched_time IS NULL", ct);

    public Task<IReadOnlyList<Dispatch>> GetAssignedAsync(NodeName node, CancellationToken ct) =>
        ReadDispatchesAsync(node, "", ct);

    public Task<int> ReleaseStaleAllocationsAsync(NodeName node, CancellationToken ct) =>
        WriteAsync(
            (connection, tx) => connection.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM allocations
                WHERE node = @node AND job_id IN (
                    SELECT a.job_id FROM allocations a JOIN jobs j ON j.id = a.job_id
                    WHERE a.node = @node AND (j.state <> 'RUNNING' OR j.attempt <> a.attempt OR j.node IS NOT a.node));
                """,
                new { node = node.Value },
                tx,
                cancellationToken: ct)),
            ct);

    private Task<IReadOnlyList<Dispatch>> ReadDispatchesAsync(NodeName node, string filter, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<Dispatch>>(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, $"""
                SELECT {JobRows.Columns}, s.script
                FROM allocations a
                JOIN jobs j ON j.id = a.job_id AND j.attempt = a.attempt
                JOIN job_scripts s ON s.job_id = j.id
                WHERE a.node = @node AND j.node = @node AND j.state = 'RUNNING' {filter}
                ORDER BY j.id;
                """);
            command.Parameters.AddWithValue("@node", node.Value);
            var dispatches = new List<Dispatch>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                dispatches.Add(new Dispatch(JobRows.Read(reader), reader.GetString(JobRows.Count)));
            }

            return dispatches;
        }, ct);

    public Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(launch);
        return WriteAsync(async (connection, tx) =>
        {
            const string Set = """
                UPDATE jobs SET pid = @pid, pid_start_ticks = @ticks, stdout_path = @stdout, stderr_path = @stderr,
                                launched_time = @launched
                WHERE id = @id AND attempt = @attempt
                """;

            async Task<int> UpdateAsync(string guard)
            {
                await using var update = Command(connection, tx, Set + guard + ";");
                update.Parameters.AddWithValue("@pid", launch.ProcessId);
                update.Parameters.AddWithValue("@ticks", launch.ProcessStartTicks);
                update.Parameters.AddWithValue("@stdout", launch.StdoutPath);
                update.Parameters.AddWithValue("@stderr", launch.StderrPath);
                update.Parameters.AddWithValue("@launched", SqlValues.ToMs(launch.LaunchTime));
                update.Parameters.AddWithValue("@id", id.Value);
                update.Parameters.AddWithValue("@attempt", attempt);
                return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var detail = string.Create(CultureInfo.InvariantCulture, $"pid={launch.ProcessId}");
            if (await UpdateAsync(" AND state = 'RUNNING'").ConfigureAwait(false) == 1)
            {
                await InsertEventsAsync(connection, tx, id, launch.Events, ct).ConfigureAwait(false);
                await InsertEventAsync(connection, tx, id, launch.LaunchTime, JobEventKind.Launched, detail, ct).ConfigureAwait(false);
                return true;
            }

            // Cancelled while the agent was launching: the process exists all the same, so keep its pid (the
            // agent's reconciliation finds it to kill) and its output paths (the user looks there).
            if (await UpdateAsync("").ConfigureAwait(false) == 1)
            {
                await InsertEventsAsync(connection, tx, id, launch.Events, ct).ConfigureAwait(false);
                await InsertEventAsync(connection, tx, id, launch.LaunchTime, JobEventKind.Launched, detail + " (job no longer running)", ct)
                    .ConfigureAwait(false);
            }

            return false;
        }, ct);
    }

    public Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return WriteAsync(async (connection, tx) =>
        {
            var id = completion.JobId;
            var current = await ReadStateAsync(connection, tx, id, ct).ConfigureAwait(false);
            if (current is not { } row || row.Attempt != completion.Attempt)
            {
                return FinishOutcome.Stale;
            }

            var detail = StoreValues.FinishedDetail(completion.State, completion.ExitCode, completion.ErrorMessage);
            if (row.State == JobState.Running && JobStates.CanTransition(JobState.Running, completion.State))
            {
                var requeue = completion.State == JobState.Pending;
                await using var update = Command(connection, tx, requeue
                    ? """
                      UPDATE jobs SET state = 'PENDING', reason = NULL, exit_code = @exit, error_msg = @error,
                          node = NULL, cores = NULL, start_time = NULL, end_time = NULL, eligible_time = @end,
                          pid = NULL, pid_start_ticks = NULL, launched_time = NULL,
                          cpu_seconds = COALESCE(@cpu, cpu_seconds), max_rss_kib = COALESCE(@rss, max_rss_kib)
                      WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
                      """
                    : """
                      UPDATE jobs SET state = @state, reason = NULL, exit_code = @exit, error_msg = @error, end_time = @end,
                          cpu_seconds = COALESCE(@cpu, cpu_seconds),
                          max_rss_kib = CASE WHEN @rss IS NULL THEN max_rss_kib ELSE MAX(COALESCE(max_rss_kib, 0), @rss) END
                      WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
                      """);
                AddCompletion(update, completion);
                if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                {
                    throw new InvalidOperationException($"Job {id} changed state inside a write transaction.");
                }

                await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false);
                await InsertEventsAsync(connection, tx, id, completion.Events, ct).ConfigureAwait(false);
                await InsertEventAsync(connection, tx, id, completion.EndTime, requeue ? JobEventKind.Requeued : JobEventKind.Finished, detail, ct)
                    .ConfigureAwait(false);
                return FinishOutcome.Finished;
            }

            if (row.State.IsTerminal())
            {
                // Ended by someone else first (a user's cancel): keep that state and end time, fill in what only
                // the agent knows, and free the node. A repeated report finds the allocation gone and adds no event.
                await using var update = Command(connection, tx, """
                    UPDATE jobs SET exit_code = COALESCE(exit_code, @exit), error_msg = COALESCE(error_msg, @error),
                        cpu_seconds = COALESCE(@cpu, cpu_seconds),
                        max_rss_kib = CASE WHEN @rss IS NULL THEN max_rss_kib ELSE MAX(COALESCE(max_rss_kib, 0), @rss) END
                    WHERE id = @id AND attempt = @attempt;
                    """);
                AddCompletion(update, completion);
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                if (await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false))
                {
                    await InsertEventsAsync(connection, tx, id, completion.Events, ct).ConfigureAwait(false);
                    await InsertEventAsync(connection, tx, id, completion.EndTime, JobEventKind.Finished, detail, ct).ConfigureAwait(false);
                }

                return FinishOutcome.AlreadyEnded;
            }

            return FinishOutcome.Stale;
        }, ct);
    }

    public Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<NodeJob>>(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, """
                SELECT a.job_id, j.attempt, j.state, j.launched_time IS NOT NULL, j.pid, j.pid_start_ticks
                FROM allocations a
                JOIN jobs j ON j.id = a.job_id
                WHERE a.node = @node
                ORDER BY a.job_id;
                """);
            command.Parameters.AddWithValue("@node", node.Value);
            var jobs = new List<NodeJob>();
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var pid = r.GetInt64OrNull(4);
                jobs.Add(new NodeJob(
                    new JobId(r.GetInt64(0)),
                    r.GetInt32(1),
                    StoreValues.ParseState(r.GetString(2)),
                    r.GetBoolean(3),
                    pid is { } p ? (int)p : null,
                    r.GetInt64OrNull(5)));
            }

            return jobs;
        }, ct);

    public async Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct)
    {
        await WriteAsync(async (connection, tx) =>
        {
            await InsertEventAsync(connection, tx, id, time, kind, detail, ct).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
    }

    public async Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct)
    {
        await WriteAsync(
            (connection, tx) => connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE jobs SET cpu_seconds = @cpu, max_rss_kib = MAX(COALESCE(max_rss_kib, 0), @rss)
                WHERE id = @id AND attempt = @attempt;
                """,
                new { id = id.Value, attempt, cpu = cpuSeconds, rss = maxRssKiB },
                tx,
                cancellationToken: ct)),
            ct).ConfigureAwait(false);
    }

    private static void AddCompletion(SqliteCommand command, JobCompletion completion)
    {
        command.Parameters.AddWithValue("@state", completion.State.ToSlurmName());
        command.Parameters.AddWithValue("@exit", completion.ExitCode.ToString());
        command.Parameters.AddWithValue("@error", SqlValues.Db(completion.ErrorMessage));
        command.Parameters.AddWithValue("@end", SqlValues.ToMs(completion.EndTime));
        command.Parameters.AddWithValue("@cpu", SqlValues.Db(completion.CpuSeconds));
        command.Parameters.AddWithValue("@rss", SqlValues.Db(completion.MaxRssKiB));
        command.Parameters.AddWithValue("@id", completion.JobId.Value);
        command.Parameters.AddWithValue("@attempt", completion.Attempt);
    }

    /// <summary>Deletes the job's allocation; true when there was one. Deleting twice is a no-op.</summary>
    private static async Task InsertEventsAsync(
        SqliteConnection connection, SqliteTransaction tx, JobId id, IReadOnlyList<AgentEvent>? events, CancellationToken ct)
    {
        foreach (var e in events ?? [])
        {
            await InsertEventAsync(connection, tx, id, e.Time, e.Kind, e.Detail, ct).ConfigureAwait(false);
        }
    }

    private static async Task<bool> ReleaseAsync(SqliteConnection connection, SqliteTransaction tx, JobId id, CancellationToken ct)
    {
        await using var delete = Command(connection, tx, "DELETE FROM allocations WHERE job_id = @id;");
        delete.Parameters.AddWithValue("@id", id.Value);
        return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
    }
}
