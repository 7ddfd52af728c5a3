using System.Data.Common;
using System.Globalization;
using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

public abstract partial class RelationalStore
{
    private const int MaxListLimit = 1000;

    /// <summary>Inserts the job PENDING, its script and its submitted event, in one transaction.</summary>
    public virtual Task<JobId> SubmitAsync(NewJob job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        return WriteAsync((connection, tx) => InsertAsync(connection, tx, job, ct), ct);
    }

    /// <summary>Inserts every job as <see cref="SubmitAsync"/> does, all in one transaction.</summary>
    public virtual Task<IReadOnlyList<JobId>> SubmitManyAsync(IReadOnlyList<NewJob> jobs, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        return WriteAsync<IReadOnlyList<JobId>>(async (connection, tx) =>
        {
            var ids = new JobId[jobs.Count];
            for (var i = 0; i < jobs.Count; i++)
            {
                ids[i] = await InsertAsync(connection, tx, jobs[i], ct).ConfigureAwait(false);
            }

            return ids;
        }, ct);
    }

    /// <summary>The job's row PENDING, its script, its dependency and its submitted event, in the caller's transaction.</summary>
    protected async Task<JobId> InsertAsync(DbConnection connection, DbTransaction tx, NewJob job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        await using var insert = WithJob(Command(connection, tx, InsertJob + ";"), job);
        var id = new JobId(Convert.ToInt64(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture));
        if (job.Spec.Array is not null)
        {
            // An array is named by its row's id, known only now.
            await using var array = Command(connection, tx, "UPDATE jobs SET array_job_id = id WHERE id = @id;").With("id", id.Value);
            await array.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using var script = Command(connection, tx, "INSERT INTO job_scripts (job_id, script) VALUES (@id, @script);")
            .With("id", id.Value)
            .With("script", job.Script);
        await script.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        if (job.Spec.Dependency is { } dependency)
        {
            await InsertDependencyAsync(connection, tx, id, dependency, ct).ConfigureAwait(false);
        }

        await InsertEventsAsync(connection, tx, id, [new AgentEvent(job.SubmitTime, JobEventKind.Submitted, null)], ct).ConfigureAwait(false);
        return id;
    }

    /// <summary>The insert of a new job's row, returning its id; its values are bound by <see cref="WithJob"/>.</summary>
    protected string InsertJob => $"""
        INSERT INTO jobs (
            state, reason, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, memory_mib,
            time_limit_seconds, work_dir, stdout_pattern, stderr_pattern, environment, arguments, exclusive,
            requeue, max_retries, nice, hold, begin_time, priority, submit_time, eligible_time, attempt, gres, owner,
            array_tasks, array_max_running, array_spec, kill_invalid_dep, gpus_per_job, gpus_per_task)
        VALUES (
            'PENDING', NULL, @name, @account, @partition, @cpus_per_task, @ntasks, @ntasks_per_node, @memory_mib,
            @time_limit_seconds, @work_dir, @stdout_pattern, @stderr_pattern,
            CAST(@environment AS {Dialect.JsonType}), CAST(@arguments AS {Dialect.JsonType}), @exclusive,
            @requeue, @max_retries, @nice, @hold, @begin_time, @priority, @submit_time, @eligible_time, 0, @gres, @owner,
            @array_tasks, @array_max_running, @array_spec, @kill_invalid_dep, @gpus_per_job, @gpus_per_task)
        RETURNING id
        """;

    /// <summary>Binds the values of <see cref="InsertJob"/>.</summary>
    protected static DbCommand WithJob(DbCommand command, NewJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var spec = job.Spec;
        return command
            .With("name", spec.Name)
            .With("account", spec.Account)
            .With("owner", spec.Owner)
            .With("partition", spec.Partition)
            .With("cpus_per_task", spec.CpusPerTask)
            .With("ntasks", spec.Ntasks)
            .With("ntasks_per_node", spec.NtasksPerNode)
            .With("memory_mib", spec.MemoryMiB)
            .With("time_limit_seconds", spec.TimeLimit is { } limit ? (long)limit.TotalSeconds : null)
            .With("work_dir", spec.WorkDir)
            .With("stdout_pattern", spec.StdoutPattern)
            .With("stderr_pattern", spec.StderrPattern)
            .With("environment", StoreValues.ToJson(spec.Environment))
            .With("arguments", StoreValues.ToJson(spec.Arguments))
            .With("exclusive", spec.Exclusive)
            .With("requeue", spec.Requeue)
            .With("max_retries", spec.MaxRetries)
            .With("nice", spec.Nice)
            .With("hold", spec.Hold)
            .With("begin_time", spec.Begin)
            .With("priority", spec.Priority)
            .With("submit_time", job.SubmitTime)
            .With("eligible_time", spec.Begin ?? job.SubmitTime)
            .With("gres", spec.Gres.IsEmpty ? null : spec.Gres.ToString())
            .With("array_tasks", spec.Array?.Tasks.ToString())
            .With("array_max_running", spec.Array?.MaxRunning)
            .With("array_spec", spec.Array?.ToString())
            .With("kill_invalid_dep", spec.KillOnInvalidDependency)
            .With("gpus_per_job", spec.GpusPerJob)
            .With("gpus_per_task", spec.GpusPerTask);
    }

    public async Task<JobRecord?> GetAsync(JobId id, CancellationToken ct)
    {
        var rows = await QueryAsync($"SELECT {JobRows.Columns} FROM jobs j WHERE j.id = @id;", c => c.With("id", id.Value), JobRows.Read, ct)
            .ConfigureAwait(false);
        return rows.Count == 0 ? null : (await WithDependenciesAsync(rows, ct).ConfigureAwait(false))[0];
    }

    public async Task<IReadOnlyList<JobRecord>> ListAsync(JobQuery query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder($"SELECT {JobRows.Columns} FROM jobs j WHERE 1 = 1");
        var bind = new List<Action<DbCommand>>();

        // An empty list of states means no filter, as a missing one does.
        if (query.States is { Count: > 0 } states)
        {
            sql.Append(" AND j.state IN (");
            for (var i = 0; i < states.Count; i++)
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"s{i}");
                sql.Append(i == 0 ? "@" : ", @").Append(name);
                var state = states[i].ToSlurmName();
                bind.Add(c => c.With(name, state));
            }

            sql.Append(')');
        }

        if (query.User is { } user)
        {
            sql.Append(" AND j.owner = @owner");
            bind.Add(c => c.With("owner", user));
        }

        if (query.Account is { } account)
        {
            sql.Append(" AND j.account = @account");
            bind.Add(c => c.With("account", account));
        }

        if (query.Partition is { } partition)
        {
            sql.Append(" AND j.partition = @partition");
            bind.Add(c => c.With("partition", partition));
        }

        if (query.Node is { } node)
        {
            sql.Append(" AND j.node = @node");
            bind.Add(c => c.With("node", node.Value));
        }

        if (query.After is { } after)
        {
            sql.Append(query.Descending ? " AND j.id < @after" : " AND j.id > @after");
            bind.Add(c => c.With("after", after.Value));
        }

        sql.Append(query.Descending ? " ORDER BY j.id DESC" : " ORDER BY j.id");
        sql.Append(" LIMIT @limit;");
        var limit = Math.Clamp(query.Limit, 1, MaxListLimit);
        bind.Add(c => c.With("limit", limit));

        // Rows are read one by one, and the page stops at the job that brings it to its memory bound.
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, sql.ToString());
        bind.ForEach(b => b(command));
        var page = new List<JobRecord>();
        var bytes = 0L;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (bytes < JobQuery.MaxPageBytes && await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var job = JobRows.Read(reader);
            page.Add(job);
            bytes += JobQuery.SizeOf(job);
        }

        return await WithDependenciesAsync(page, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<JobEvent>> GetEventsAsync(JobId id, CancellationToken ct) =>
        await QueryAsync(
            "SELECT seq, time, kind, detail FROM job_events WHERE job_id = @id ORDER BY seq;",
            c => c.With("id", id.Value),
            r => new JobEvent(r.GetInt64(0), id, StoreValues.FromMs(r.GetInt64(1)), JobEventKinds.FromWireName(r.GetString(2)), r.GetStringOrNull(3)),
            ct).ConfigureAwait(false);

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
                .With("now", now)
                .With("id", id.Value)
                .With("expected", row.State.ToSlurmName());
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
            {
                throw new InvalidOperationException($"Job {id} changed state although its row was locked.");
            }

            if (!pending)
            {
                // Placed but never launched: no process holds the CPUs, so they are free at once and the job has
                // ended with 0:0. Should the agent be spawning it right now, it learns of the cancel when it records
                // the launch, stops the process and reports its real exit code.
                await using var release = Command(connection, tx,
                        "DELETE FROM allocations WHERE job_id = @id AND (SELECT launched_time FROM jobs WHERE id = @id) IS NULL;")
                    .With("id", id.Value);
                if (await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1)
                {
                    pending = true;
                    await using var ended = Command(connection, tx, "UPDATE jobs SET exit_code = '0:0' WHERE id = @id;").With("id", id.Value);
                    await ended.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            List<AgentEvent> events = [new(now, JobEventKind.CancelRequested, detail)];
            if (pending)
            {
                events.Add(new(now, JobEventKind.Finished, StoreValues.FinishedDetail(JobState.Cancelled, ExitCode.Success, null)));
            }

            await InsertEventsAsync(connection, tx, id, events, ct).ConfigureAwait(false);
            return new CancelResult(CancelOutcome.Cancelled, JobState.Cancelled, node);
        }, ct);

    public Task<HoldOutcome> SetHoldAsync(JobId id, HoldAction action, bool asAdmin, DateTimeOffset now, string detail, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false);
            if (current is not { } row)
            {
                return HoldOutcome.NotFound;
            }

            // A running job takes the hold too, as Slurm's: it keeps running, and comes back held if it is requeued.
            if (row.State is not (JobState.Pending or JobState.Running))
            {
                return HoldOutcome.NotPending;
            }

            bool held, adminHeld;
            await using (var read = Command(connection, tx, "SELECT hold, admin_hold FROM jobs WHERE id = @id;").With("id", id.Value))
            await using (var reader = await read.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                await reader.ReadAsync(ct).ConfigureAwait(false);
                held = reader.GetBoolean(0);
                adminHeld = held && reader.GetBoolean(1);
            }

            var hold = action != HoldAction.Release;
            var admin = action == HoldAction.HoldAdmin;
            if (adminHeld && !asAdmin)
            {
                return HoldOutcome.Forbidden;
            }

            if (held == hold && (!hold || adminHeld == admin))
            {
                return HoldOutcome.Unchanged;
            }

            await using var update = Command(connection, tx, row.State == JobState.Pending
                    ? "UPDATE jobs SET hold = @hold, admin_hold = @admin, reason = @reason WHERE id = @id AND state = 'PENDING';"
                    : "UPDATE jobs SET hold = @hold, admin_hold = @admin WHERE id = @id AND state = 'RUNNING';")
                .With("hold", hold)
                .With("admin", admin)
                .With("reason", !hold ? null : admin ? PendingReasons.JobHeldAdmin : PendingReasons.JobHeldUser)
                .With("id", id.Value);
            await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await InsertEventsAsync(connection, tx, id, [new(now, hold ? JobEventKind.Held : JobEventKind.Released, detail)], ct).ConfigureAwait(false);
            return HoldOutcome.Changed;
        }, ct);

    public async Task<JobCounts> CountByStateAsync(CancellationToken ct)
    {
        var rows = await QueryAsync("SELECT state, COUNT(*) FROM jobs GROUP BY state;", None, r => (State: r.GetString(0), Count: r.GetInt64(1)), ct)
            .ConfigureAwait(false);
        var counts = rows.ToDictionary(r => StoreValues.ParseState(r.State), r => r.Count);

        // An array's row stands for all its unstarted tasks: they count as pending jobs, as squeue counts them.
        var unstarted = await QueryAsync("SELECT array_tasks FROM jobs WHERE array_tasks IS NOT NULL AND state = 'PENDING';", None,
            r => TaskSet.Parse(r.GetString(0)).Count - 1, ct).ConfigureAwait(false);
        if (unstarted.Sum() is > 0 and var more)
        {
            counts[JobState.Pending] = counts.GetValueOrDefault(JobState.Pending) + more;
        }

        return new JobCounts(counts);
    }

    public Task<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken ct) =>
        ExecuteAsync(
            """
            DELETE FROM jobs WHERE id IN (
                SELECT j.id FROM jobs j
                WHERE j.state NOT IN ('PENDING', 'RUNNING') AND j.end_time < @before
                  AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.job_id = j.id)
                  AND (j.array_job_id IS NULL OR j.array_job_id <> j.id OR NOT EXISTS (
                      SELECT 1 FROM jobs t
                      WHERE t.array_job_id = j.id AND t.array_job_id IS NOT NULL AND t.state IN ('PENDING', 'RUNNING')))
                  AND NOT EXISTS (
                      SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.job_id AND p.state = 'PENDING'
                      WHERE d.target_id = j.id OR d.target_id = j.array_job_id)
                ORDER BY j.end_time
                LIMIT @limit);
            """,
            c => c.With("before", endedBefore).With("limit", Math.Clamp(limit, 1, 100_000)),
            ct);

    /// <summary>Reads a job's state and locks its row until the transaction ends; null when the job does not exist.</summary>
    private async Task<(JobState State, int Attempt, string? Node)?> LockJobAsync(DbConnection connection, DbTransaction tx, JobId id, CancellationToken ct)
    {
        await using var command = Command(connection, tx, $"SELECT state, attempt, node FROM jobs WHERE id = @id{Dialect.LockRows};")
            .With("id", id.Value);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            return null;
        }

        return (StoreValues.ParseState(reader.GetString(0)), reader.GetInt32(1), reader.GetStringOrNull(2));
    }

    /// <summary>
    /// Appends events to an existing job, in the order given, in one statement (a transaction that holds row locks
    /// stays short); nothing happens for a job that does not exist.
    /// </summary>
    private static async Task InsertEventsAsync(DbConnection connection, DbTransaction? tx, JobId id, IEnumerable<AgentEvent>? events, CancellationToken ct)
    {
        foreach (var chunk in (events ?? []).Chunk(100))
        {
            await using var command = Command(connection, tx, "").With("id", id.Value);
            var rows = new StringBuilder();
            for (var i = 0; i < chunk.Length; i++)
            {
                var n = i.ToString(CultureInfo.InvariantCulture);
                rows.Append(i == 0 ? "" : ", ").Append($"(@t{n}, @k{n}, @d{n}, {n})");
                command.With("t" + n, chunk[i].Time).With("k" + n, chunk[i].Kind.ToWireName()).With("d" + n, chunk[i].Detail);
            }

            // VALUES names its columns column1, column2, ... on every database.
            command.CommandText = $"""
                INSERT INTO job_events (job_id, time, kind, detail)
                SELECT @id, v.column1, v.column2, v.column3 FROM (VALUES {rows}) AS v
                WHERE EXISTS (SELECT 1 FROM jobs WHERE id = @id)
                ORDER BY v.column4;
                """;
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }
}
