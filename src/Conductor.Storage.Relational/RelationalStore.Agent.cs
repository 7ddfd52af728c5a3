using System.Data.Common;
using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

public abstract partial class RelationalStore
{
    public Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct) =>
        ReadDispatchesAsync(node, "AND j.launched_time IS NULL", ct);

    public Task<IReadOnlyList<Dispatch>> GetAssignedAsync(NodeName node, CancellationToken ct) =>
        ReadDispatchesAsync(node, "", ct);

    public Task<int> ReleaseStaleAllocationsAsync(NodeName node, CancellationToken ct) =>
        ExecuteAsync(
            """
            DELETE FROM allocations
            WHERE node = @node AND job_id IN (
                SELECT a.job_id FROM allocations a JOIN jobs j ON j.id = a.job_id
                WHERE a.node = @node
                  AND (j.state <> 'RUNNING' OR j.attempt <> a.attempt OR j.node IS NULL OR j.node <> a.node));
            """,
            c => c.With("node", node.Value),
            ct);

    private async Task<IReadOnlyList<Dispatch>> ReadDispatchesAsync(NodeName node, string filter, CancellationToken ct) =>
        await QueryAsync(
            $"""
            SELECT {JobRows.Columns}, s.script
            FROM allocations a
            JOIN jobs j ON j.id = a.job_id AND j.attempt = a.attempt
            JOIN job_scripts s ON s.job_id = COALESCE(j.array_job_id, j.id)
            WHERE a.node = @node AND j.node = @node AND j.state = 'RUNNING' {filter}
            ORDER BY j.id;
            """,
            c => c.With("node", node.Value),
            r => new Dispatch(JobRows.Read(r), r.GetString(JobRows.Count)),
            ct).ConfigureAwait(false);

    public Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(launch);

        // The launch is recorded for the attempt whatever the state: a job cancelled while its agent was launching
        // still has a process, so its pid (for the agent's reconciliation to kill) and its output paths (for the
        // user) are kept; only a RUNNING job counts as launched.
        var detail = string.Create(CultureInfo.InvariantCulture, $"pid={launch.ProcessId}");
        return WriteAsync(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, """
                    UPDATE jobs SET pid = @pid, pid_start_ticks = @ticks, stdout_path = @stdout, stderr_path = @stderr,
                                    launched_time = @launched
                    WHERE id = @id AND attempt = @attempt
                    RETURNING state;
                    """)
                .With("pid", launch.ProcessId)
                .With("ticks", launch.ProcessStartTicks)
                .With("stdout", launch.StdoutPath)
                .With("stderr", launch.StderrPath)
                .With("launched", launch.LaunchTime)
                .With("id", id.Value)
                .With("attempt", attempt);
            if (await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is not string state)
            {
                return false;
            }

            var running = state == JobState.Running.ToSlurmName();
            var events = (launch.Events ?? []).Append(new AgentEvent(launch.LaunchTime, JobEventKind.Launched,
                running ? detail : detail + " (job no longer running)"));
            await InsertEventsAsync(connection, tx, id, events, ct).ConfigureAwait(false);
            return running;
        }, ct);
    }

    public Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return WriteAsync(async (connection, tx) =>
        {
            var id = completion.JobId;
            if (await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false) is not { } row)
            {
                return FinishOutcome.Stale;
            }

            switch (JobTransitions.OnReport(row.State, row.Attempt, completion.State, completion.Attempt))
            {
                case ReportVerdict.Apply:
                    if (!await EndAttemptAsync(connection, tx, completion, ct).ConfigureAwait(false))
                    {
                        throw new InvalidOperationException($"Job {id} changed state although its row was locked.");
                    }

                    return FinishOutcome.Finished;

                case ReportVerdict.FillIn:
                    // Ended by someone else first (a user's cancel): keep that state and end time, fill in what only
                    // the agent knows, and free the node. A repeated report finds the allocation gone and adds no event.
                    await using (var update = WithCompletion(Command(connection, tx, $"""
                        UPDATE jobs SET exit_code = COALESCE(exit_code, @exit), error_msg = COALESCE(error_msg, @error), {Usage}
                        WHERE id = @id AND state = @state_now AND attempt = @attempt;
                        """), completion).With("state_now", row.State.ToSlurmName()))
                    {
                        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    if (await ReleaseAsync(connection, tx, id, ct).ConfigureAwait(false))
                    {
                        await InsertEventsAsync(connection, tx, id, (completion.Events ?? []).Append(new AgentEvent(completion.EndTime, JobEventKind.Finished,
                            StoreValues.FinishedDetail(completion.State, completion.ExitCode, completion.ErrorMessage))), ct).ConfigureAwait(false);
                    }

                    return FinishOutcome.AlreadyEnded;

                default:
                    return FinishOutcome.Stale;
            }
        }, ct);
    }

    /// <summary>The usage columns a report of an attempt's end fills in: the last CPU time, the largest resident set.</summary>
    private string Usage =>
        $"cpu_seconds = COALESCE(@cpu, cpu_seconds), max_rss_kib = CASE WHEN @rss IS NULL THEN max_rss_kib ELSE {Dialect.Greatest("COALESCE(max_rss_kib, 0)", "@rss")} END";

    /// <summary>
    /// Ends the RUNNING attempt of <paramref name="completion"/> (guarded by state and attempt) in the state it
    /// reports, or puts the job back in the queue when it reports PENDING; frees the allocation and appends the
    /// events. False when the guard lost. Every path that ends an attempt (the agent's report, recovery, the node
    /// watchdog) writes through here, so a requeued job looks the same whoever requeued it.
    /// </summary>
    private async Task<bool> EndAttemptAsync(DbConnection connection, DbTransaction tx, JobCompletion completion, CancellationToken ct)
    {
        // Back to PENDING: the placement, the times and the process of the attempt are cleared, as are its exit code
        // (a pending job has none; the event keeps it) and its reason; the attempt stays counted and the next start
        // increments it again. The error says why the job was put back; the usage stays until the next start.
        var requeue = completion.State == JobState.Pending;
        await using var update = WithCompletion(Command(connection, tx, requeue
            ? $"""
              UPDATE jobs SET state = 'PENDING', reason = CASE WHEN admin_hold THEN '{PendingReasons.JobHeldAdmin}' WHEN hold THEN '{PendingReasons.RequeuedHeld}' ELSE NULL END, exit_code = NULL, error_msg = @error,
                  node = NULL, cores = NULL, start_time = NULL, end_time = NULL, eligible_time = @end,
                  pid = NULL, pid_start_ticks = NULL, launched_time = NULL, requeue_requested = NULL, {Usage}
              WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
              """
            : $"""
              UPDATE jobs SET state = @state, reason = NULL, exit_code = @exit, error_msg = @error, end_time = @end,
                  requeue_requested = NULL, {Usage}
              WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;
              """), completion);
        if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
        {
            return false;
        }

        await ReleaseAsync(connection, tx, completion.JobId, ct).ConfigureAwait(false);
        var detail = StoreValues.FinishedDetail(completion.State, completion.ExitCode, completion.ErrorMessage);
        await InsertEventsAsync(connection, tx, completion.JobId, (completion.Events ?? []).Append(
            new AgentEvent(completion.EndTime, requeue ? JobEventKind.Requeued : JobEventKind.Finished, detail)), ct).ConfigureAwait(false);
        return true;
    }

    public async Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct) =>
        await QueryAsync(
            """
            SELECT a.job_id, j.attempt, j.state, j.launched_time IS NOT NULL, j.pid, j.pid_start_ticks,
                   j.time_limit_seconds, j.requeue_requested IS NOT NULL
            FROM allocations a
            JOIN jobs j ON j.id = a.job_id
            WHERE a.node = @node
            ORDER BY a.job_id;
            """,
            c => c.With("node", node.Value),
            r => new NodeJob(
                new JobId(r.GetInt64(0)),
                r.GetInt32(1),
                StoreValues.ParseState(r.GetString(2)),
                r.GetBoolean(3),
                r.GetInt32OrNull(4),
                r.GetInt64OrNull(5))
            {
                TimeLimit = r.GetInt64OrNull(6) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                RequeueRequested = r.GetBoolean(7),
            },
            ct).ConfigureAwait(false);

    public Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            await InsertEventsAsync(connection, tx, id, [new AgentEvent(time, kind, detail)], ct).ConfigureAwait(false);
            return true;
        }, ct);

    public Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct) =>
        ExecuteAsync(
            $"""
            UPDATE jobs SET cpu_seconds = @cpu, max_rss_kib = {Dialect.Greatest("COALESCE(max_rss_kib, 0)", "@rss")}
            WHERE id = @id AND attempt = @attempt;
            """,
            c => c.With("id", id.Value).With("attempt", attempt).With("cpu", cpuSeconds).With("rss", maxRssKiB),
            ct);

    private static DbCommand WithCompletion(DbCommand command, JobCompletion completion) =>
        command
            .With("state", completion.State.ToSlurmName())
            .With("exit", completion.ExitCode.ToString())
            .With("error", completion.ErrorMessage)
            .With("end", completion.EndTime)
            .With("cpu", completion.CpuSeconds)
            .With("rss", completion.MaxRssKiB)
            .With("id", completion.JobId.Value)
            .With("attempt", completion.Attempt);

    /// <summary>Deletes the job's allocation; true when there was one. Deleting twice is a no-op.</summary>
    private static async Task<bool> ReleaseAsync(DbConnection connection, DbTransaction tx, JobId id, CancellationToken ct)
    {
        // Signals not delivered to the attempt die with it.
        await using (var signals = Command(connection, tx, "DELETE FROM job_signals WHERE job_id = @id;").With("id", id.Value))
        {
            await signals.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using var delete = Command(connection, tx, "DELETE FROM allocations WHERE job_id = @id;").With("id", id.Value);
        return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
    }
}
