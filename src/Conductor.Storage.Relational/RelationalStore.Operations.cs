using System.Data.Common;
using System.Globalization;
using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

/// <summary>What operators and owners do to a job after its submission: update it, signal it, requeue it.</summary>
public abstract partial class RelationalStore
{
    public Task<UpdateOutcome> UpdateAsync(JobId id, JobChanges changes, DateTimeOffset now, string detail, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.ExpectedState == JobState.Running && changes with { TimeLimit = null } is { IsEmpty: false })
        {
            throw new ArgumentException("A running job may change only its time limit.", nameof(changes));
        }

        return WriteAsync(async (connection, tx) =>
        {
            if (await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false) is not { } row)
            {
                return UpdateOutcome.NotFound;
            }

            if (row.State != changes.ExpectedState || row.Attempt != changes.ExpectedAttempt || row.State.IsTerminal())
            {
                return UpdateOutcome.StateChanged;
            }

            await using var update = Command(connection, tx, "");
            var set = new StringBuilder();
            void Set(string column, Action<DbCommand> bind)
            {
                set.Append(set.Length == 0 ? "" : ", ").Append(column).Append(" = @").Append(column);
                bind(update);
            }

            if (changes.Name is { } name)
            {
                Set("name", c => c.With("name", name));
            }

            if (changes.Partition is { } partition)
            {
                Set("partition", c => c.With("partition", partition));
            }

            if (changes.CpusPerTask is { } cpus)
            {
                Set("cpus_per_task", c => c.With("cpus_per_task", cpus));
            }

            if (changes.MemoryMiB is { } memory)
            {
                Set("memory_mib", c => c.With("memory_mib", memory));
            }

            if (changes.Gres is { } gres)
            {
                Set("gres", c => c.With("gres", gres.IsEmpty ? null : gres.ToString()));

                // The new list is asked per node, as Slurm's TresPerNode update: no longer a --gpus or --gpus-per-task request.
                Set("gpus_per_job", c => c.With("gpus_per_job", (int?)null));
                Set("gpus_per_task", c => c.With("gpus_per_task", (int?)null));
            }

            if (changes.TimeLimit is { } limit)
            {
                Set("time_limit_seconds", c => c.With("time_limit_seconds", limit.Value is { } t ? (long)t.TotalSeconds : null));
            }

            if (changes.Nice is { } nice)
            {
                Set("nice", c => c.With("nice", nice));
                Set("priority", c => c.With("priority", -nice));
            }

            if (changes.Begin is { } begin)
            {
                Set("begin_time", c => c.With("begin_time", begin.Value));
                Set("eligible_time", c => c.With("eligible_time", begin.Value ?? now));
            }

            if (changes.Dependency is { } dependency)
            {
                // Nothing is written yet: a dependency that would make the job wait for itself leaves the job as it was.
                if (dependency.Value is { } wanted && await ReachesAsync(connection, tx, wanted.Targets.ToList(), id, ct).ConfigureAwait(false))
                {
                    return UpdateOutcome.Cycle;
                }

                // The new dependency replaces the old one, term by term; the scheduler evaluates it at its next pass.
                await using (var clear = Command(connection, tx, "DELETE FROM job_dependencies WHERE job_id = @id;").With("id", id.Value))
                {
                    await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                if (dependency.Value is { } terms)
                {
                    await InsertDependencyAsync(connection, tx, id, terms, ct).ConfigureAwait(false);
                }

                Set("reason", c => c.With("reason", (string?)null));
            }

            if (set.Length == 0)
            {
                return UpdateOutcome.Updated;
            }

            // A pending job's reason and reservation are the scheduler's to work out again with the new values.
            if (row.State == JobState.Pending && changes.Dependency is null)
            {
                Set("reason", c => c.With("reason", (string?)null));
            }

            update.CommandText = row.State == JobState.Pending
                ? $"UPDATE jobs SET {set}, expected_start = NULL WHERE id = @id AND state = 'PENDING' AND attempt = @attempt;"
                : $"UPDATE jobs SET {set} WHERE id = @id AND state = 'RUNNING' AND attempt = @attempt;";
            update.With("id", id.Value).With("attempt", row.Attempt);
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
            {
                throw new InvalidOperationException($"Job {id} changed state although its row was locked.");
            }

            await InsertEventsAsync(connection, tx, id, [new AgentEvent(now, JobEventKind.Updated, detail)], ct).ConfigureAwait(false);
            return UpdateOutcome.Updated;
        }, ct);
    }

    public Task<SignalResult> SignalAsync(JobId id, SignalRequest signal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(signal);
        return WriteAsync(async (connection, tx) =>
        {
            if (await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false) is not { } row)
            {
                return new SignalResult(SignalOutcome.NotFound, default, null);
            }

            if (row.State != JobState.Running || row.Node is null)
            {
                return new SignalResult(SignalOutcome.NotRunning, row.State, null);
            }

            await using var insert = Command(connection, tx, """
                    INSERT INTO job_signals (job_id, attempt, signal, batch_only, requested_by, time)
                    VALUES (@id, @attempt, @signal, @batch, @by, @time);
                    """)
                .With("id", id.Value)
                .With("attempt", row.Attempt)
                .With("signal", signal.Signal)
                .With("batch", signal.BatchOnly)
                .With("by", signal.RequestedBy)
                .With("time", signal.Time);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return new SignalResult(SignalOutcome.Queued, row.State, new NodeName(row.Node));
        }, ct);
    }

    public async Task<IReadOnlyList<PendingSignal>> TakeSignalsAsync(NodeName node, CancellationToken ct)
    {
        var taken = await QueryAsync(
            """
            DELETE FROM job_signals WHERE job_id IN (
                SELECT a.job_id FROM allocations a JOIN jobs j ON j.id = a.job_id
                WHERE a.node = @node AND j.launched_time IS NOT NULL)
            RETURNING seq, job_id, attempt, signal, batch_only, requested_by, time;
            """,
            c => c.With("node", node.Value),
            r => (Seq: r.GetInt64(0), Signal: new PendingSignal(
                new JobId(r.GetInt64(1)), r.GetInt32(2), r.GetInt32(3), r.GetBoolean(4), r.GetString(5), StoreValues.FromMs(r.GetInt64(6)))),
            ct).ConfigureAwait(false);
        return [.. taken.OrderBy(t => t.Seq).Select(t => t.Signal)];
    }

    public Task<RequeueResult> RequeueAsync(JobId id, DateTimeOffset now, string detail, bool hold, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            (JobState State, string? Node, bool Launched, bool Requested, bool Allocated, string? Exit) row;
            await using (var read = Command(connection, tx, $"""
                    SELECT state, node, launched_time IS NOT NULL, requeue_requested IS NOT NULL,
                           EXISTS (SELECT 1 FROM allocations a WHERE a.job_id = jobs.id), exit_code
                    FROM jobs WHERE id = @id{Dialect.LockRows};
                    """).With("id", id.Value))
            await using (var reader = await read.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return new RequeueResult(RequeueOutcome.NotFound, default, null);
                }

                row = (StoreValues.ParseState(reader.GetString(0)), reader.GetStringOrNull(1), reader.GetBoolean(2), reader.GetBoolean(3),
                    reader.GetBoolean(4), reader.GetStringOrNull(5));
            }

            var node = row.Node is null ? (NodeName?)null : new NodeName(row.Node);
            if (row.State == JobState.Pending)
            {
                return new RequeueResult(RequeueOutcome.Pending, row.State, null);
            }

            if (row.State == JobState.Running && row.Launched)
            {
                // The processes run: the agent of the node stops them and reports the attempt back to PENDING (held,
                // when asked: the report keeps the hold and gives its reason).
                if (!row.Requested || hold)
                {
                    await using var mark = Command(connection, tx,
                            "UPDATE jobs SET requeue_requested = @by, hold = (hold OR @hold) WHERE id = @id AND state = 'RUNNING';")
                        .With("by", detail)
                        .With("hold", hold)
                        .With("id", id.Value);
                    await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    await InsertEventsAsync(connection, tx, id, [new AgentEvent(now, JobEventKind.Requeued, detail + "; stopping the job")], ct)
                        .ConfigureAwait(false);
                }

                return new RequeueResult(RequeueOutcome.Requested, row.State, node);
            }

            if (row.State.IsTerminal() && row.Allocated)
            {
                return new RequeueResult(RequeueOutcome.StillEnding, row.State, node);
            }

            // Ended, or placed but never launched (no process holds its CPUs): back to the queue now, as a new attempt.
            if (row.Allocated)
            {
                await using var release = Command(connection, tx, "DELETE FROM allocations WHERE job_id = @id;").With("id", id.Value);
                await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await using var requeue = Command(connection, tx, """
                    UPDATE jobs SET state = 'PENDING',
                        reason = CASE WHEN @keep AND hold AND admin_hold THEN @admin_reason WHEN @hold OR (@keep AND hold) THEN @reason ELSE NULL END,
                        hold = (@hold OR (@keep AND hold)), admin_hold = (@keep AND hold AND admin_hold), exit_code = NULL, error_msg = NULL,
                        node = NULL, cores = NULL, devices = NULL, start_time = NULL, end_time = NULL, eligible_time = @now,
                        pid = NULL, pid_start_ticks = NULL, launched_time = NULL, expected_start = NULL, requeue_requested = NULL
                    WHERE id = @id AND state = @expected;
                    """)
                .With("now", now)
                .With("reason", PendingReasons.RequeuedHeld)
                .With("admin_reason", PendingReasons.JobHeldAdmin)
                .With("hold", hold)
                .With("keep", row.State == JobState.Running) // a hold put on the placed job stays
                .With("id", id.Value)
                .With("expected", row.State.ToSlurmName());
            if (await requeue.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
            {
                throw new InvalidOperationException($"Job {id} changed state although its row was locked.");
            }

            var was = row.State.IsTerminal()
                ? string.Create(CultureInfo.InvariantCulture, $" (it had ended {row.State.ToSlurmName()} with exit code {row.Exit ?? "0:0"})")
                : " (it had not started yet)";
            await InsertEventsAsync(connection, tx, id, [new AgentEvent(now, JobEventKind.Requeued, detail + was)], ct).ConfigureAwait(false);
            return new RequeueResult(RequeueOutcome.Requeued, JobState.Pending, node);
        }, ct);
}
