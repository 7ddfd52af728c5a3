using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Storage.Common;
using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

public sealed partial class PostgresStore
{
    private const int MaxListLimit = 1000;

    public async Task<JobId> SubmitAsync(NewJob job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        var spec = job.Spec;

        // One statement: the job, its script and its first event, atomically and in one round trip.
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var insert = Command(connection, null, """
            WITH job AS (
                INSERT INTO jobs (
                    state, reason, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, memory_mib,
                    time_limit_seconds, work_dir, stdout_pattern, stderr_pattern, environment, arguments, exclusive,
                    requeue, max_retries, nice, hold, begin_time, priority, submit_time, eligible_time, attempt, owner)
                VALUES (
                    'PENDING', NULL, @name, @account, @partition, @cpus_per_task, @ntasks, @ntasks_per_node, @memory_mib,
                    @time_limit_seconds, @work_dir, @stdout_pattern, @stderr_pattern, @environment, @arguments, @exclusive,
                    @requeue, @max_retries, @nice, @hold, @begin_time, @priority, @submit_time, @eligible_time, 0, @owner)
                RETURNING id),
            script AS (
                INSERT INTO job_scripts (job_id, script) SELECT id, @script FROM job),
            submitted AS (
                INSERT INTO job_events (job_id, time, kind, detail) SELECT id, @submit_time, @kind, NULL FROM job)
            SELECT id FROM job;
            """);
        insert
            .With("name", NpgsqlDbType.Text, spec.Name)
            .With("account", NpgsqlDbType.Text, spec.Account)
            .With("owner", NpgsqlDbType.Text, spec.Owner)
            .With("partition", NpgsqlDbType.Text, spec.Partition)
            .With("cpus_per_task", NpgsqlDbType.Integer, spec.CpusPerTask)
            .With("ntasks", NpgsqlDbType.Integer, spec.Ntasks)
            .With("ntasks_per_node", NpgsqlDbType.Integer, spec.NtasksPerNode)
            .With("memory_mib", NpgsqlDbType.Bigint, spec.MemoryMiB)
            .With("time_limit_seconds", NpgsqlDbType.Bigint, spec.TimeLimit is { } limit ? (long)limit.TotalSeconds : null)
            .With("work_dir", NpgsqlDbType.Text, spec.WorkDir)
            .With("stdout_pattern", NpgsqlDbType.Text, spec.StdoutPattern)
            .With("stderr_pattern", NpgsqlDbType.Text, spec.StderrPattern)
            .With("environment", NpgsqlDbType.Jsonb, StoreValues.ToJson(spec.Environment))
            .With("arguments", NpgsqlDbType.Jsonb, StoreValues.ToJson(spec.Arguments))
            .With("exclusive", NpgsqlDbType.Boolean, spec.Exclusive)
            .With("requeue", NpgsqlDbType.Boolean, spec.Requeue)
            .With("max_retries", NpgsqlDbType.Integer, spec.MaxRetries)
            .With("nice", NpgsqlDbType.Integer, spec.Nice)
            .With("hold", NpgsqlDbType.Boolean, spec.Hold)
            .With("begin_time", NpgsqlDbType.Bigint, PgValues.ToMs(spec.Begin))
            .With("priority", NpgsqlDbType.Integer, spec.Priority)
            .With("submit_time", NpgsqlDbType.Bigint, PgValues.ToMs(job.SubmitTime))
            .With("eligible_time", NpgsqlDbType.Bigint, PgValues.ToMs(spec.Begin ?? job.SubmitTime))
            .With("script", NpgsqlDbType.Text, job.Script)
            .With("kind", NpgsqlDbType.Text, JobEventKind.Submitted.ToWireName());
        return new JobId((long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!);
    }

    public async Task<JobRecord?> GetAsync(JobId id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {JobRows.Columns} FROM jobs j WHERE j.id = @id;")
            .With("id", NpgsqlDbType.Bigint, id.Value);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? JobRows.Read(reader) : null;
    }

    public async Task<IReadOnlyList<JobRecord>> ListAsync(JobQuery query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, "");
        var sql = new StringBuilder($"SELECT {JobRows.Columns} FROM jobs j WHERE TRUE");

        // An empty list of states means no filter, as a missing one does.
        if (query.States is { Count: > 0 } states)
        {
            sql.Append(" AND j.state = ANY(@states)");
            command.With("states", NpgsqlDbType.Array | NpgsqlDbType.Text, states.Select(s => s.ToSlurmName()).ToArray());
        }

        if (query.User is not null)
        {
            sql.Append(" AND j.owner = @owner");
            command.With("owner", NpgsqlDbType.Text, query.User);
        }

        if (query.Account is not null)
        {
            sql.Append(" AND j.account = @account");
            command.With("account", NpgsqlDbType.Text, query.Account);
        }

        if (query.Partition is not null)
        {
            sql.Append(" AND j.partition = @partition");
            command.With("partition", NpgsqlDbType.Text, query.Partition);
        }

        if (query.Node is { } node)
        {
            sql.Append(" AND j.node = @node");
            command.With("node", NpgsqlDbType.Text, node.Value);
        }

        if (query.After is { } after)
        {
            sql.Append(query.Descending ? " AND j.id < @after" : " AND j.id > @after");
            command.With("after", NpgsqlDbType.Bigint, after.Value);
        }

        sql.Append(query.Descending ? " ORDER BY j.id DESC" : " ORDER BY j.id");
        sql.Append(" LIMIT @limit;");
        command.With("limit", NpgsqlDbType.Integer, Math.Clamp(query.Limit, 1, MaxListLimit));
        command.CommandText = sql.ToString();

        var jobs = new List<JobRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            jobs.Add(JobRows.Read(reader));
        }

        return jobs;
    }

    public async Task<IReadOnlyList<JobEvent>> GetEventsAsync(JobId id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT seq, time, kind, detail FROM job_events WHERE job_id = @id ORDER BY seq;")
            .With("id", NpgsqlDbType.Bigint, id.Value);
        var events = new List<JobEvent>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            events.Add(new JobEvent(
                reader.GetInt64(0), id, StoreValues.FromMs(reader.GetInt64(1)), JobEventKinds.FromWireName(reader.GetString(2)), reader.GetStringOrNull(3)));
        }

        return events;
    }

    public Task<CancelResult> CancelAsync(JobId id, DateTimeOffset now, string detail, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false);
            if (current is not { } row)
            {
                return new CancelResult(CancelOutcome.NotFound, default, null);
            }

            var node = row.Node is null ? (NodeName?)null : new NodeName(row.Node);
            if (row.State.IsTerminal())
            {
                return new CancelResult(CancelOutcome.AlreadyTerminal, row.State, node);
            }

            // A pending job never ran: it ends now with 0:0. A running job ends now as well, but its exit code
            // and its allocation stay for the agent, which reports them once the processes are gone.
            var pending = row.State == JobState.Pending;
            await using var update = Command(connection, tx, pending
                    ? "UPDATE jobs SET state = 'CANCELLED', reason = NULL, end_time = @now, exit_code = '0:0' WHERE id = @id AND state = @expected;"
                    : "UPDATE jobs SET state = 'CANCELLED', reason = NULL, end_time = @now WHERE id = @id AND state = @expected;")
                .With("now", NpgsqlDbType.Bigint, PgValues.ToMs(now))
                .With("id", NpgsqlDbType.Bigint, id.Value)
                .With("expected", NpgsqlDbType.Text, row.State.ToSlurmName());
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
            {
                throw new InvalidOperationException($"Job {id} changed state although its row was locked.");
            }

            await InsertEventAsync(connection, tx, id, now, JobEventKind.CancelRequested, detail, ct).ConfigureAwait(false);
            if (!pending)
            {
                // Placed but never launched: no process holds the CPUs, so they are free at once and the job has
                // ended with 0:0. Should the agent be spawning it right now, it learns of the cancel when it records
                // the launch, stops the process and reports its real exit code.
                await using var release = Command(connection, tx, """
                        DELETE FROM allocations WHERE job_id = @id AND (SELECT launched_time FROM jobs WHERE id = @id) IS NULL;
                        """)
                    .With("id", NpgsqlDbType.Bigint, id.Value);
                if (await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1)
                {
                    pending = true;
                    await using var ended = Command(connection, tx, "UPDATE jobs SET exit_code = '0:0' WHERE id = @id;")
                        .With("id", NpgsqlDbType.Bigint, id.Value);
                    await ended.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            if (pending)
            {
                await InsertEventAsync(connection, tx, id, now, JobEventKind.Finished, StoreValues.FinishedDetail(JobState.Cancelled, ExitCode.Success, null), ct)
                    .ConfigureAwait(false);
            }

            return new CancelResult(CancelOutcome.Cancelled, JobState.Cancelled, node);
        }, ct);

    public async Task<JobCounts> CountByStateAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT state, COUNT(*) FROM jobs GROUP BY state;");
        var counts = new Dictionary<JobState, long>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            counts[StoreValues.ParseState(reader.GetString(0))] = reader.GetInt64(1);
        }

        return new JobCounts(counts);
    }

    /// <summary>Reads a job's state and locks its row until the transaction ends; null when the job does not exist.</summary>
    private static async Task<(JobState State, int Attempt, string? Node)?> LockJobAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, JobId id, CancellationToken ct)
    {
        await using var command = Command(connection, tx, "SELECT state, attempt, node FROM jobs WHERE id = @id FOR UPDATE;")
            .With("id", NpgsqlDbType.Bigint, id.Value);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            return null;
        }

        return (StoreValues.ParseState(reader.GetString(0)), reader.GetInt32(1), reader.GetStringOrNull(2));
    }

    /// <summary>Appends an event to an existing job; nothing happens for a job that does not exist.</summary>
    public async Task<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, """
                DELETE FROM jobs WHERE id IN (
                    SELECT j.id FROM jobs j
                    WHERE j.state NOT IN ('PENDING', 'RUNNING') AND j.end_time < @before
                      AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.job_id = j.id)
                    ORDER BY j.end_time
                    LIMIT @limit);
                """)
            .With("before", NpgsqlDbType.Bigint, PgValues.ToMs(endedBefore))
            .With("limit", NpgsqlDbType.Integer, Math.Clamp(limit, 1, 100_000));
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task InsertEventAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, JobId id, DateTimeOffset time, JobEventKind kind, string? detail, CancellationToken ct)
    {
        await using var command = Command(connection, tx, """
                INSERT INTO job_events (job_id, time, kind, detail)
                SELECT @id, @time, @kind, @detail WHERE EXISTS (SELECT 1 FROM jobs WHERE id = @id);
                """)
            .With("id", NpgsqlDbType.Bigint, id.Value)
            .With("time", NpgsqlDbType.Bigint, PgValues.ToMs(time))
            .With("kind", NpgsqlDbType.Text, kind.ToWireName())
            .With("detail", NpgsqlDbType.Text, detail);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

}
