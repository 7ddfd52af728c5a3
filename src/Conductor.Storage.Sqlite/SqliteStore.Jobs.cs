using System.Globalization;
using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Storage.Common;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Conductor.Storage.Sqlite;

public sealed partial class SqliteStore
{
    private const int MaxListLimit = 1000;

    public Task<JobId> SubmitAsync(NewJob job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        var spec = job.Spec;
        return WriteAsync(async (connection, tx) =>
        {
            await using var insert = Command(connection, tx, """
                INSERT INTO jobs (
                    state, reason, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, memory_mib,
                    time_limit_seconds, work_dir, stdout_pattern, stderr_pattern, environment, arguments, exclusive,
                    requeue, max_retries, nice, hold, begin_time, priority, submit_time, eligible_time, attempt, owner)
                VALUES (
                    'PENDING', NULL, @name, @account, @partition, @cpus_per_task, @ntasks, @ntasks_per_node, @memory_mib,
                    @time_limit_seconds, @work_dir, @stdout_pattern, @stderr_pattern, @environment, @arguments, @exclusive,
                    @requeue, @max_retries, @nice, @hold, @begin_time, @priority, @submit_time, @eligible_time, 0, @owner)
                RETURNING id;
                """);
            var p = insert.Parameters;
            p.AddWithValue("@name", spec.Name);
            p.AddWithValue("@account", spec.Account);
            p.AddWithValue("@owner", spec.Owner);
            p.AddWithValue("@partition", spec.Partition);
            p.AddWithValue("@cpus_per_task", spec.CpusPerTask);
            p.AddWithValue("@ntasks", spec.Ntasks);
            p.AddWithValue("@ntasks_per_node", spec.NtasksPerNode);
            p.AddWithValue("@memory_mib", SqlValues.Db(spec.MemoryMiB));
            p.AddWithValue("@time_limit_seconds", spec.TimeLimit is { } limit ? (long)limit.TotalSeconds : DBNull.Value);
            p.AddWithValue("@work_dir", spec.WorkDir);
            p.AddWithValue("@stdout_pattern", spec.StdoutPattern);
            p.AddWithValue("@stderr_pattern", SqlValues.Db(spec.StderrPattern));
            p.AddWithValue("@environment", StoreValues.ToJson(spec.Environment));
            p.AddWithValue("@arguments", StoreValues.ToJson(spec.Arguments));
            p.AddWithValue("@exclusive", spec.Exclusive);
            p.AddWithValue("@requeue", spec.Requeue);
            p.AddWithValue("@max_retries", spec.MaxRetries);
            p.AddWithValue("@nice", spec.Nice);
            p.AddWithValue("@hold", spec.Hold);
            p.AddWithValue("@begin_time", SqlValues.ToMs(spec.Begin));
            p.AddWithValue("@priority", spec.Priority);
            p.AddWithValue("@submit_time", SqlValues.ToMs(job.SubmitTime));
            p.AddWithValue("@eligible_time", SqlValues.ToMs(spec.Begin ?? job.SubmitTime));

            var id = new JobId((long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!);

            await using var script = Command(connection, tx, "INSERT INTO job_scripts (job_id, script) VALUES (@id, @script);");
            script.Parameters.AddWithValue("@id", id.Value);
            script.Parameters.AddWithValue("@script", job.Script);
            await script.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await InsertEventAsync(connection, tx, id, job.SubmitTime, JobEventKind.Submitted, null, ct).ConfigureAwait(false);
            return id;
        }, ct);
    }

    public Task<JobRecord?> GetAsync(JobId id, CancellationToken ct) =>
        ReadAsync(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, $"SELECT {JobRows.Columns} FROM jobs j WHERE j.id = @id;");
            command.Parameters.AddWithValue("@id", id.Value);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? JobRows.Read(reader) : null;
        }, ct);

    public Task<IReadOnlyList<JobRecord>> ListAsync(JobQuery query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        return ReadAsync<IReadOnlyList<JobRecord>>(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, "");
            var sql = new StringBuilder($"SELECT {JobRows.Columns} FROM jobs j WHERE 1 = 1");
            if (query.States is { Count: > 0 } states)
            {
                sql.Append(" AND j.state IN (");
                for (var i = 0; i < states.Count; i++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"@s{i}");
                    sql.Append(i == 0 ? name : ", " + name);
                    command.Parameters.AddWithValue(name, states[i].ToSlurmName());
                }

                sql.Append(')');
            }

            if (query.User is not null)
            {
                sql.Append(" AND j.owner = @owner");
                command.Parameters.AddWithValue("@owner", query.User);
            }

            if (query.Account is not null)
            {
                sql.Append(" AND j.account = @account");
                command.Parameters.AddWithValue("@account", query.Account);
            }

            if (query.Partition is not null)
            {
                sql.Append(" AND j.partition = @partition");
                command.Parameters.AddWithValue("@partition", query.Partition);
            }

            if (query.Node is { } node)
            {
                sql.Append(" AND j.node = @node");
                command.Parameters.AddWithValue("@node", node.Value);
            }

            if (query.After is { } after)
            {
                sql.Append(query.Descending ? " AND j.id < @after" : " AND j.id > @after");
                command.Parameters.AddWithValue("@after", after.Value);
            }

            sql.Append(query.Descending ? " ORDER BY j.id DESC" : " ORDER BY j.id");
            sql.Append(" LIMIT @limit;");
            command.Parameters.AddWithValue("@limit", Math.Clamp(query.Limit, 1, MaxListLimit));
            command.CommandText = sql.ToString();

            var jobs = new List<JobRecord>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                jobs.Add(JobRows.Read(reader));
            }

            return jobs;
        }, ct);
    }

    public async Task<IReadOnlyList<JobEvent>> GetEventsAsync(JobId id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        var rows = await connection.QueryAsync<(long Seq, long Time, string Kind, string? Detail)>(new CommandDefinition(
            "SELECT seq, time, kind, detail FROM job_events WHERE job_id = @id ORDER BY seq;",
            new { id = id.Value },
            cancellationToken: ct)).ConfigureAwait(false);
        return rows
            .Select(r => new JobEvent(r.Seq, id, StoreValues.FromMs(r.Time), JobEventKinds.FromWireName(r.Kind), r.Detail))
            .ToList();
    }

    public Task<CancelResult> CancelAsync(JobId id, DateTimeOffset now, string detail, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = await ReadStateAsync(connection, tx, id, ct).ConfigureAwait(false);
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
                : "UPDATE jobs SET state = 'CANCELLED', reason = NULL, end_time = @now WHERE id = @id AND state = @expected;");
            update.Parameters.AddWithValue("@now", SqlValues.ToMs(now));
            update.Parameters.AddWithValue("@id", id.Value);
            update.Parameters.AddWithValue("@expected", row.State.ToSlurmName());
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
            {
                throw new InvalidOperationException($"Job {id} changed state inside a write transaction.");
            }

            await InsertEventAsync(connection, tx, id, now, JobEventKind.CancelRequested, detail, ct).ConfigureAwait(false);
            if (!pending)
            {
                // Placed but never launched: no process holds the CPUs, so they are free at once and the job has
                // ended with 0:0. Should the agent be spawning it right now, it learns of the cancel when it records
                // the launch, stops the process and reports its real exit code.
                await using var release = Command(connection, tx, """
                    DELETE FROM allocations WHERE job_id = @id AND (SELECT launched_time FROM jobs WHERE id = @id) IS NULL;
                    """);
                release.Parameters.AddWithValue("@id", id.Value);
                if (await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1)
                {
                    pending = true;
                    await using var ended = Command(connection, tx, "UPDATE jobs SET exit_code = '0:0' WHERE id = @id;");
                    ended.Parameters.AddWithValue("@id", id.Value);
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
        var rows = await connection.QueryAsync<(string State, long Count)>(new CommandDefinition(
            "SELECT state, COUNT(*) FROM jobs GROUP BY state;", cancellationToken: ct)).ConfigureAwait(false);
        return new JobCounts(rows.ToDictionary(r => StoreValues.ParseState(r.State), r => r.Count));
    }

    private static async Task<(JobState State, int Attempt, string? Node, string? ExitCode)?> ReadStateAsync(
        SqliteConnection connection, SqliteTransaction tx, JobId id, CancellationToken ct)
    {
        await using var command = Command(connection, tx, "SELECT state, attempt, node, exit_code FROM jobs WHERE id = @id;");
        command.Parameters.AddWithValue("@id", id.Value);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            return null;
        }

        return (StoreValues.ParseState(reader.GetString(0)), reader.GetInt32(1), reader.GetStringOrNull(2), reader.GetStringOrNull(3));
    }

    /// <summary>Appends an event to an existing job; nothing happens for a job that does not exist.</summary>
    public Task<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken ct) =>
        WriteAsync(
            (connection, tx) => connection.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM jobs WHERE id IN (
                    SELECT j.id FROM jobs j
                    WHERE j.state NOT IN ('PENDING', 'RUNNING') AND j.end_time < @before
                      AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.job_id = j.id)
                    ORDER BY j.end_time
                    LIMIT @limit);
                """,
                new { before = SqlValues.ToMs(endedBefore), limit = Math.Clamp(limit, 1, 100_000) },
                tx,
                cancellationToken: ct)),
            ct);

    private static async Task InsertEventAsync(
        SqliteConnection connection, SqliteTransaction tx, JobId id, DateTimeOffset time, JobEventKind kind, string? detail, CancellationToken ct)
    {
        await using var command = Command(connection, tx, """
            INSERT INTO job_events (job_id, time, kind, detail)
            SELECT @id, @time, @kind, @detail WHERE EXISTS (SELECT 1 FROM jobs WHERE id = @id);
            """);
        command.Parameters.AddWithValue("@id", id.Value);
        command.Parameters.AddWithValue("@time", SqlValues.ToMs(time));
        command.Parameters.AddWithValue("@kind", kind.ToWireName());
        command.Parameters.AddWithValue("@detail", SqlValues.Db(detail));
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

}
