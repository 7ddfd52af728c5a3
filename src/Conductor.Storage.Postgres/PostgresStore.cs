using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;
using Conductor.Storage.Relational;
using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

/// <summary>
/// The relational store on a PostgreSQL server (see <see cref="PostgresDialect"/>), where a round trip costs enough
/// to take two paths of its own: the scheduler's commit as a set (one statement, whatever the size of the plan), and
/// a submit in one statement (the job, its script and its event: less than half the time of three statements in a
/// transaction, measured on a busy machine).
/// </summary>
public sealed class PostgresStore(PostgresStoreOptions options) : RelationalStore(new PostgresDialect(options))
{
    public override async Task<JobId> SubmitAsync(NewJob job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Spec.Array is not null || job.Spec.Dependency is not null)
        {
            // An array's row names itself by its own id, and a dependency's rows follow the job's: the shared transaction.
            return await base.SubmitAsync(job, ct).ConfigureAwait(false);
        }

        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var insert = WithJob(Command(connection, null, InsertInOneStatement), job)
            .With("script", job.Script)
            .With("kind", JobEventKind.Submitted.ToWireName());
        return new JobId((long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!);
    }

    /// <summary>
    /// Every job in one transaction; each run of jobs without an array or a dependency goes as one batch of
    /// <see cref="InsertInOneStatement"/>, in one round trip.
    /// </summary>
    public override Task<IReadOnlyList<JobId>> SubmitManyAsync(IReadOnlyList<NewJob> jobs, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        return WriteAsync<IReadOnlyList<JobId>>(async (connection, tx) =>
        {
            var ids = new JobId[jobs.Count];
            var next = 0;
            while (next < jobs.Count)
            {
                if (jobs[next].Spec.Array is not null || jobs[next].Spec.Dependency is not null)
                {
                    ids[next] = await InsertAsync(connection, tx, jobs[next], ct).ConfigureAwait(false);
                    next++;
                    continue;
                }

                await using var batch = new NpgsqlBatch((NpgsqlConnection)connection, (NpgsqlTransaction)tx);
                var first = next;
                for (; next < jobs.Count && jobs[next].Spec.Array is null && jobs[next].Spec.Dependency is null; next++)
                {
                    batch.BatchCommands.Add(BatchCommand(jobs[next]));
                }

                await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
                for (var i = first; i < next; i++)
                {
                    if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        throw new InvalidOperationException("An insert of the batch returned no id.");
                    }

                    ids[i] = new JobId(reader.GetInt64(0));
                    await reader.NextResultAsync(ct).ConfigureAwait(false);
                }
            }

            return ids;
        }, ct);
    }

    /// <summary>The job, its script and its submitted event in one statement that returns the job's id.</summary>
    private string InsertInOneStatement => $"""
        WITH job AS (
        {InsertJob}),
        script AS (
            INSERT INTO job_scripts (job_id, script) SELECT id, @script FROM job),
        submitted AS (
            INSERT INTO job_events (job_id, time, kind, detail) SELECT id, @submit_time, @kind, NULL FROM job)
        SELECT id FROM job;
        """;

    /// <summary><see cref="InsertInOneStatement"/> for one job of a batch, bound as a single submit binds it.</summary>
    private NpgsqlBatchCommand BatchCommand(NewJob job)
    {
        using var bound = WithJob(new NpgsqlCommand(), job)
            .With("script", job.Script)
            .With("kind", JobEventKind.Submitted.ToWireName());
        var command = new NpgsqlBatchCommand(InsertInOneStatement);

        // A parameter belongs to one collection at a time: move them over.
        foreach (var parameter in bound.Parameters.Cast<NpgsqlParameter>().ToArray())
        {
            bound.Parameters.Remove(parameter);
            command.Parameters.Add(parameter);
        }

        return command;
    }

    public override Task<IReadOnlyList<JobStart>> CommitAsync(SchedulingPlan plan, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Starts.Count == 0 && plan.ReasonChanges.Count == 0 && plan.Reservations is null)
        {
            return Task.FromResult<IReadOnlyList<JobStart>>([]);
        }

        return WriteAsync<IReadOnlyList<JobStart>>(async (connection, tx) =>
        {
            // The rows are passed as arrays.
            await using var command = (NpgsqlCommand)Command(connection, tx, "");
            var sql = new StringBuilder();

            // First lock every job the plan touches, in id order, so that two schedulers committing overlapping
            // plans queue on each other instead of deadlocking; the guarded writes below then make the later one
            // skip whatever the earlier one started.
            // Before them, share-lock the nodes of the starts (the node watchdog locks nodes, then jobs, in the
            // same order): a node being declared down meanwhile is waited for and then seen Down, and gets nothing.
            if (plan.Starts.Count > 0)
            {
                sql.AppendLine("SELECT name FROM nodes WHERE name = ANY(@start_nodes) ORDER BY name COLLATE \"C\" FOR SHARE;");
            }

            var touched = plan.Starts.Select(s => s.JobId.Value).Concat(plan.ReasonChanges.Select(r => r.JobId.Value)).Distinct().ToArray();
            sql.AppendLine("SELECT id FROM jobs WHERE id = ANY(@touched) ORDER BY id FOR UPDATE;");
            Array(command, "touched", NpgsqlDbType.Bigint, touched);

            if (plan.Starts.Count > 0)
            {
                // A job listed twice starts once, with its first placement (DISTINCT ON keeps the lowest ordinal).
                sql.AppendLine($"""
                    WITH plan AS (
                        SELECT DISTINCT ON (p.id) p.id, p.node, p.cores, p.cpus, p.memory_mib, NULLIF(p.devices, '') AS devices, p.ord
                        FROM unnest(@start_ids, @start_nodes, @start_cores, @start_cpus, @start_memory, @start_devices)
                             WITH ORDINALITY AS p(id, node, cores, cpus, memory_mib, devices, ord)
                        ORDER BY p.id, p.ord),
                    started AS (
                        UPDATE jobs j SET {StartAttempt("p.node", "p.cores", "p.devices")}
                        FROM plan p
                        WHERE j.id = p.id AND j.state = 'PENDING' AND j.array_tasks IS NULL AND NOT j.hold
                          AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = p.node AND (n.state = 'Down' OR n.drain_reason IS NOT NULL))
                        RETURNING j.id, j.exclusive, j.attempt, p.node, p.cores, p.cpus, p.memory_mib, p.devices, p.ord),
                    allocated AS (
                        INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time, devices)
                        SELECT id, node, cores, cpus, memory_mib, exclusive, attempt, @now, devices FROM started),
                    scheduled AS (
                        INSERT INTO job_events (job_id, time, kind, detail)
                        SELECT id, @now, @scheduled, 'node=' || node || ' cpus=' || cpus || ' cores=' || cores
                               || COALESCE(' gres=' || devices, '')
                        FROM started ORDER BY ord)
                    SELECT ord FROM started ORDER BY ord;
                    """);
                var starts = plan.Starts;
                Array(command, "start_ids", NpgsqlDbType.Bigint, starts.Select(s => s.JobId.Value).ToArray());
                Array(command, "start_nodes", NpgsqlDbType.Text, starts.Select(s => s.Node.Value).ToArray());
                Array(command, "start_cores", NpgsqlDbType.Text, starts.Select(s => StoreValues.FormatCores(s.Cores)).ToArray());
                Array(command, "start_cpus", NpgsqlDbType.Integer, starts.Select(s => s.Cores.Count).ToArray());
                Array(command, "start_memory", NpgsqlDbType.Bigint, starts.Select(s => s.MemoryMiB).ToArray());
                Array(command, "start_devices", NpgsqlDbType.Text, starts.Select(s => GresDevice.Format(s.GresDevices)).ToArray());
                command.With("now", now).With("scheduled", JobEventKind.Scheduled.ToWireName());
            }

            if (plan.ReasonChanges.Count > 0)
            {
                // Only pending jobs take a reason; a job listed twice takes its last one; unchanged rows are not written.
                sql.AppendLine("""
                    UPDATE jobs j SET reason = r.reason
                    FROM (SELECT DISTINCT ON (c.id) c.id, c.reason
                          FROM unnest(@reason_ids, @reason_texts) WITH ORDINALITY AS c(id, reason, ord)
                          ORDER BY c.id, c.ord DESC) r
                    WHERE j.id = r.id AND j.state = 'PENDING' AND j.reason IS DISTINCT FROM r.reason
                      AND j.hold = (r.reason LIKE 'JobHeld%');
                    """);
                Array(command, "reason_ids", NpgsqlDbType.Bigint, plan.ReasonChanges.Select(c => c.JobId.Value).ToArray());
                Array(command, "reason_texts", NpgsqlDbType.Text, plan.ReasonChanges.Select(c => c.Reason).ToArray());
            }

            if (plan.Reservations is { } reservations)
            {
                // The plan's reservations replace the previous pass's.
                sql.AppendLine("""
                    UPDATE jobs SET expected_start = NULL WHERE expected_start IS NOT NULL AND NOT (id = ANY(@expect_ids));
                    UPDATE jobs j SET expected_start = e.time
                    FROM unnest(@expect_ids, @expect_times) AS e(id, time)
                    WHERE j.id = e.id AND j.state = 'PENDING';
                    """);
                Array(command, "expect_ids", NpgsqlDbType.Bigint, reservations.Select(r => r.JobId.Value).ToArray());
                Array(command, "expect_times", NpgsqlDbType.Bigint, reservations.Select(r => r.Time.ToUnixTimeMilliseconds()).ToArray());
            }

            command.CommandText = sql.ToString();
            var won = new List<JobStart>(plan.Starts.Count);
            await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                // With starts, the results are the node lock, the job lock, then the ordinals of the winners.
                if (plan.Starts.Count > 0 && await reader.NextResultAsync(ct).ConfigureAwait(false) && await reader.NextResultAsync(ct).ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        won.Add(plan.Starts[(int)reader.GetInt64(0) - 1]);
                    }
                }
            }

            return won;
        }, ct);
    }

    private static void Array<T>(NpgsqlCommand command, string name, NpgsqlDbType element, T[] values) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | element) { Value = values });
}
