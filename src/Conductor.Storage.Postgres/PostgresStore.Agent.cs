using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Storage.Common;
using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

public sealed partial class PostgresStore
{
    public Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct) =>
        ReadDispatchesAsync(node, "AND j.launched_time IS NULL", ct);

    public Task<IReadOnlyList<Dispatch>> GetAssignedAsync(NodeName node, CancellationToken ct) =>
        ReadDispatchesAsync(node, "", ct);

    public async Task<int> ReleaseStaleAllocationsAsync(NodeName node, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, """
                DELETE FROM allocations a
                USING jobs j
                WHERE a.node = @node AND j.id = a.job_id
                  AND (j.state <> 'RUNNING' OR j.attempt <> a.attempt OR j.node IS DISTINCT FROM a.node);
                """)
            .With("node", NpgsqlDbType.Text, node.Value);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<Dispatch>> ReadDispatchesAsync(NodeName node, string filter, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, $"""
                SELECT {JobRows.Columns}, s.script
                FROM allocations a
                JOIN jobs j ON j.id = a.job_id AND j.attempt = a.attempt
                JOIN job_scripts s ON s.job_id = j.id
                WHERE a.node = @node AND j.node = @node AND j.state = 'RUNNING' {filter}
                ORDER BY j.id;
                """)
            .With("node", NpgsqlDbType.Text, node.Value);
        var dispatches = new List<Dispatch>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            dispatches.Add(new Dispatch(JobRows.Read(reader), reader.GetString(JobRows.Count)));
        }

        return dispatches;
    }

    public async Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(launch);

        // The launch is recorded for the attempt whatever the state: a job cancelled while its agent was launching
        // still has a process, so its pid (for the agent's reconciliation to kill) and its output paths (for the
        // user) are kept; only a RUNNING job counts as launched. One statement, so the event comes with the write.
        var detail = string.Create(CultureInfo.InvariantCulture, $"pid={launch.ProcessId}");
        return await WriteAsync(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, """
                    UPDATE jobs SET pid = @pid, pid_start_ticks = @ticks, stdout_path = @stdout, stderr_path = @stderr,
                                    launched_time = @launched
                    WHERE id = @id AND attempt = @attempt
                    RETURNING state;
                    """)
                .With("pid", NpgsqlDbType.Integer, launch.ProcessId)
                .With("ticks", NpgsqlDbType.Bigint, launch.ProcessStartTicks)
                .With("stdout", NpgsqlDbType.Text, launch.StdoutPath)
                .With("stderr", NpgsqlDbType.Text, launch.StderrPath)
                .With("launched", NpgsqlDbType.Bigint, PgValues.ToMs(launch.LaunchTime))
                .With("id", NpgsqlDbType.Bigint, id.Value)
                .With("attempt", NpgsqlDbType.Integer, attempt);
            if (await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is not string state)
            {
                return false;
            }

            var running = state == JobState.Running.ToSlurmName();
            var events = (launch.Events ?? []).Append(new AgentEvent(launch.LaunchTime, JobEventKind.Launched,
                running ? detail : detail + " (job no longer running)"));
            await InsertEventsAsync(connection, tx, id, events, ct).ConfigureAwait(false);
            return running;
        }, ct).ConfigureAwait(false);
    }

    public Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return WriteAsync(async (connection, tx) =>
        {
            var id = completion.JobId;
            var current = await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false);
            if (current is not { } row || row.Attempt != completion.Attempt)
            {
                return FinishOutcome.Stale;
            }

            var detail = StoreValues.FinishedDetail(completion.State, completion.ExitCode, completion.ErrorMessage);
            if (row.State == JobState.Running && JobStates.CanTransition(JobState.Running, completion.State))
            {
                // A report of PENDING is a requeue: the job goes back to the queue with its attempt counted and
                // its placement cleared; the next start increments the attempt again.
                var requeue = completion.State == JobState.Pending;
                await using var update = WithCompletion(Command(connection, tx, requeue
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
                          max_rss_kib = CASE WHEN @rss IS NULL THEN max_rss_kib ELSE GREATEST(COALESCE(max_rss_kib, 0), @rss) END
                      WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
                      """), completion);
                if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                {
                    throw new InvalidOperationException($"Job {id} changed state although its row was locked.");
                }

                await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false);
                await InsertEventsAsync(connection, tx, id, (completion.Events ?? []).Append(
                    new AgentEvent(completion.EndTime, requeue ? JobEventKind.Requeued : JobEventKind.Finished, detail)), ct).ConfigureAwait(false);
                return FinishOutcome.Finished;
            }

            if (row.State.IsTerminal())
            {
                // Ended by someone else first (a user's cancel): keep that state and end time, fill in what only
                // the agent knows, and free the node. A repeated report finds the allocation gone and adds no event.
                await using var update = WithCompletion(Command(connection, tx, """
                    UPDATE jobs SET exit_code = COALESCE(exit_code, @exit), error_msg = COALESCE(error_msg, @error),
                        cpu_seconds = COALESCE(@cpu, cpu_seconds),
                        max_rss_kib = CASE WHEN @rss IS NULL THEN max_rss_kib ELSE GREATEST(COALESCE(max_rss_kib, 0), @rss) END
                    WHERE id = @id AND state = @state_now AND attempt = @attempt;
                    """), completion)
                    .With("state_now", NpgsqlDbType.Text, row.State.ToSlurmName());
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                if (await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false))
                {
                    await InsertEventsAsync(connection, tx, id, (completion.Events ?? []).Append(
                        new AgentEvent(completion.EndTime, JobEventKind.Finished, detail)), ct).ConfigureAwait(false);
                }

                return FinishOutcome.AlreadyEnded;
            }

            return FinishOutcome.Stale;
        }, ct);
    }

    public async Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, """
                SELECT a.job_id, j.attempt, j.state, j.launched_time IS NOT NULL, j.pid, j.pid_start_ticks
                FROM allocations a
                JOIN jobs j ON j.id = a.job_id
                WHERE a.node = @node
                ORDER BY a.job_id;
                """)
            .With("node", NpgsqlDbType.Text, node.Value);
        var jobs = new List<NodeJob>();
        await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            jobs.Add(new NodeJob(
                new JobId(r.GetInt64(0)),
                r.GetInt32(1),
                StoreValues.ParseState(r.GetString(2)),
                r.GetBoolean(3),
                r.GetInt32OrNull(4),
                r.GetInt64OrNull(5)));
        }

        return jobs;
    }

    public async Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await InsertEventAsync(connection, null, id, time, kind, detail, ct).ConfigureAwait(false);
    }

    public async Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, """
                UPDATE jobs SET cpu_seconds = @cpu, max_rss_kib = GREATEST(COALESCE(max_rss_kib, 0), @rss)
                WHERE id = @id AND attempt = @attempt;
                """)
            .With("id", NpgsqlDbType.Bigint, id.Value)
            .With("attempt", NpgsqlDbType.Integer, attempt)
            .With("cpu", NpgsqlDbType.Double, cpuSeconds)
            .With("rss", NpgsqlDbType.Bigint, maxRssKiB);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static NpgsqlCommand WithCompletion(NpgsqlCommand command, JobCompletion completion) =>
        command
            .With("state", NpgsqlDbType.Text, completion.State.ToSlurmName())
            .With("exit", NpgsqlDbType.Text, completion.ExitCode.ToString())
            .With("error", NpgsqlDbType.Text, completion.ErrorMessage)
            .With("end", NpgsqlDbType.Bigint, PgValues.ToMs(completion.EndTime))
            .With("cpu", NpgsqlDbType.Double, completion.CpuSeconds)
            .With("rss", NpgsqlDbType.Bigint, completion.MaxRssKiB)
            .With("id", NpgsqlDbType.Bigint, completion.JobId.Value)
            .With("attempt", NpgsqlDbType.Integer, completion.Attempt);

    /// <summary>Inserts events in the order given, in one round trip.</summary>
    private static async Task InsertEventsAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, JobId id, IEnumerable<AgentEvent> events, CancellationToken ct)
    {
        var list = events.ToList();
        if (list.Count == 0)
        {
            return;
        }

        await using var command = Command(connection, tx, """
                INSERT INTO job_events (job_id, time, kind, detail)
                SELECT @id, e.time, e.kind, e.detail
                FROM unnest(@times, @kinds, @details) WITH ORDINALITY AS e(time, kind, detail, n)
                ORDER BY e.n;
                """)
            .With("id", NpgsqlDbType.Bigint, id.Value)
            .With("times", NpgsqlDbType.Array | NpgsqlDbType.Bigint, list.Select(e => PgValues.ToMs(e.Time)).ToArray())
            .With("kinds", NpgsqlDbType.Array | NpgsqlDbType.Text, list.Select(e => e.Kind.ToWireName()).ToArray())
            .With("details", NpgsqlDbType.Array | NpgsqlDbType.Text, list.Select(e => e.Detail).ToArray());
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Deletes the job's allocation; true when there was one. Deleting twice is a no-op.</summary>
    private static async Task<bool> ReleaseAsync(NpgsqlConnection connection, NpgsqlTransaction tx, JobId id, CancellationToken ct)
    {
        await using var delete = Command(connection, tx, "DELETE FROM allocations WHERE job_id = @id;")
            .With("id", NpgsqlDbType.Bigint, id.Value);
        return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
    }
}
