using System.Data;
using System.Data.Common;
using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

/// <summary>
/// Dependencies: one row per term in <c>job_dependencies</c>. The scheduler's snapshot reads them for pending jobs
/// only (a pass over pending jobs without dependencies pays one query on an empty join), with the states of their
/// targets: a target is a job, or an array, meaning every task of it (the rows that name it in <c>array_job_id</c>,
/// the unstarted tasks being the array's own pending row), or one task of an array.
/// </summary>
public abstract partial class RelationalStore
{
    /// <summary>The filter of <see cref="LoadDependentsAsync"/> that selects every pending job.</summary>
    private const string PendingDependents = "pending";

    /// <summary>Writes a new job's dependency, one row per term.</summary>
    private static async Task InsertDependencyAsync(DbConnection connection, DbTransaction tx, JobId id, Dependency dependency, CancellationToken ct)
    {
        await using var insert = Command(connection, tx, """
            INSERT INTO job_dependencies (job_id, position, kind, target_id, target_task, minutes, any_of)
            VALUES (@id, @position, @kind, @target, @task, @minutes, @any);
            """).With("id", id.Value).With("any", dependency.Any);
        var position = insert.Parameter("position", DbType.Int32);
        var kind = insert.Parameter("kind", DbType.String);
        var target = insert.Parameter("target", DbType.Int64);
        var task = insert.Parameter("task", DbType.Int32);
        var minutes = insert.Parameter("minutes", DbType.Int32);
        for (var i = 0; i < dependency.Terms.Count; i++)
        {
            var term = dependency.Terms[i];
            position.Value = i;
            kind.Value = Dependencies.Name(term.Kind);
            target.Value = term.Target is { } t ? t.Value : DBNull.Value;
            task.Value = term.Task is { } k ? k : DBNull.Value;
            minutes.Value = term.Minutes;
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The dependent jobs among those <paramref name="jobFilter"/> selects (<see cref="PendingDependents"/>, or a
    /// condition on <c>j</c>, the dependent job), with the status of every term's target, and the (name, user) pairs
    /// of running jobs their singleton terms compete with.
    /// </summary>
    private static async Task<(List<DependentJob> Jobs, HashSet<(string, string)> Running)> LoadDependentsAsync(
        DbConnection connection, DbTransaction? tx, string jobFilter, Action<DbCommand> bind, CancellationToken ct)
    {
        // For the scheduler (every pending job), the dependencies drive the join: a pass over 100,000 pending jobs
        // without dependencies then reads an empty table instead of probing it 100,000 times (CROSS JOIN keeps
        // SQLite's order; PostgreSQL plans it freely from its statistics). For a page of jobs, the jobs drive it.
        var source = jobFilter == PendingDependents
            ? "job_dependencies d CROSS JOIN jobs j"
            : "job_dependencies d JOIN jobs j ON j.id = d.job_id";
        jobFilter = jobFilter == PendingDependents ? "j.id = d.job_id AND j.state = 'PENDING'" : jobFilter;
        var terms = new List<(long Job, DependencyTerm Term, bool Any, string Name, string User, int? Task, bool Holder, bool? Kill)>();
        await using (var command = Command(connection, tx, $"""
            SELECT d.job_id, d.kind, d.target_id, d.target_task, d.minutes, d.any_of, j.name, j.owner,
                   j.array_task_id, j.array_tasks IS NOT NULL, j.kill_invalid_dep
            FROM {source}
            WHERE {jobFilter}
            ORDER BY d.job_id, d.position;
            """))
        {
            bind(command);
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var target = r.GetInt64OrNull(2);
                terms.Add((
                    r.GetInt64(0),
                    new DependencyTerm(Dependencies.ParseKind(r.GetString(1)), target is { } t ? new JobId(t) : null, r.GetInt32OrNull(3), r.GetInt32(4)),
                    r.GetBoolean(5),
                    r.GetString(6),
                    r.GetString(7),
                    r.GetInt32OrNull(8),
                    r.GetBoolean(9),
                    r.IsDBNull(10) ? null : r.GetBoolean(10)));
            }
        }

        var running = new HashSet<(string, string)>();
        if (terms.Count == 0)
        {
            return ([], running);
        }

        // Whole jobs and arrays: the row of the id itself, and every task row that names it as its array.
        var statuses = new Dictionary<(long, int?), TargetStatus>();
        if (terms.Any(t => t.Term.Target is not null && t.Term.Task is null))
        {
            await using var command = Command(connection, tx, $"""
                WITH t AS (
                    SELECT DISTINCT d.target_id FROM {source}
                    WHERE {jobFilter} AND d.target_id IS NOT NULL AND d.target_task IS NULL),
                x AS (
                    SELECT t.target_id, x.state, COALESCE(x.start_time, x.end_time) AS began
                    FROM t JOIN jobs x ON x.id = t.target_id
                    UNION ALL
                    SELECT t.target_id, x.state, COALESCE(x.start_time, x.end_time)
                    FROM t JOIN jobs x ON x.array_job_id = t.target_id AND x.id <> t.target_id)
                SELECT target_id,
                       SUM(CASE WHEN state = 'PENDING' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN state = 'RUNNING' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN state = 'COMPLETED' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN state NOT IN ('PENDING', 'RUNNING', 'COMPLETED') THEN 1 ELSE 0 END),
                       MAX(began)
                FROM x GROUP BY target_id;
                """);
            bind(command);
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                statuses[(r.GetInt64(0), null)] = new TargetStatus(
                    (int)r.GetInt64(1), (int)r.GetInt64(2), (int)r.GetInt64(3), (int)r.GetInt64(4), r.GetTimeOrNull(5));
            }
        }

        // One task: its own row once split off, else (still unstarted) the array's row, which is then pending, or
        // cancelled with its unstarted tasks.
        if (terms.Any(t => t.Term.Task is not null))
        {
            await using var command = Command(connection, tx, $"""
                WITH t AS (
                    SELECT DISTINCT d.target_id, d.target_task FROM {source}
                    WHERE {jobFilter} AND d.target_task IS NOT NULL)
                SELECT t.target_id, t.target_task,
                       COALESCE(k.state, CASE WHEN a.array_tasks IS NOT NULL THEN a.state END),
                       CASE WHEN k.id IS NOT NULL THEN COALESCE(k.start_time, k.end_time) ELSE a.end_time END
                FROM t
                LEFT JOIN jobs k ON k.array_job_id = t.target_id AND k.array_task_id = t.target_task
                LEFT JOIN jobs a ON a.id = t.target_id;
                """);
            bind(command);
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                if (r.GetStringOrNull(2) is { } state)
                {
                    statuses[(r.GetInt64(0), r.GetInt32(1))] = OneRow(state, r.GetTimeOrNull(3));
                }
            }
        }

        // aftercorr, for a task row B_k: the task A_k it pairs with. Its own row once split off; else still unstarted in
        // A's row (pending, or cancelled with it); else A has no task k, and the whole of A stands in (as in Slurm).
        var pairs = new Dictionary<(long, int), TargetStatus>();
        if (terms.Any(t => t.Term.Kind == DependencyKind.AfterCorr && t.Task is not null && !t.Holder))
        {
            await using var command = Command(connection, tx, $"""
                WITH t AS (
                    SELECT DISTINCT d.target_id, j.array_task_id AS task FROM {source}
                    WHERE {jobFilter} AND d.kind = 'aftercorr' AND d.target_task IS NULL AND j.array_task_id IS NOT NULL AND j.array_tasks IS NULL)
                SELECT t.target_id, t.task, k.state, COALESCE(k.start_time, k.end_time), a.state, a.array_tasks, a.end_time
                FROM t
                LEFT JOIN jobs k ON k.array_job_id = t.target_id AND k.array_task_id = t.task
                LEFT JOIN jobs a ON a.id = t.target_id;
                """);
            bind(command);
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var task = r.GetInt32(1);
                var state = r.GetStringOrNull(2);
                var began = r.GetTimeOrNull(3);
                if (state is null && r.GetStringOrNull(5) is { } unstarted && TaskSet.Parse(unstarted).Contains(task))
                {
                    state = r.GetString(4);
                    began = r.GetTimeOrNull(6);
                }

                if (state is not null)
                {
                    pairs[(r.GetInt64(0), task)] = OneRow(state, began);
                }
            }
        }

        if (terms.Any(t => t.Term.Kind == DependencyKind.Singleton))
        {
            await using var command = Command(connection, tx, $"""
                SELECT DISTINCT x.name, x.owner FROM jobs x
                WHERE x.state = 'RUNNING' AND EXISTS (
                    SELECT 1 FROM {source}
                    WHERE {jobFilter} AND d.kind = 'singleton' AND j.name = x.name AND j.owner = x.owner);
                """);
            bind(command);
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                running.Add((r.GetString(0), r.GetString(1)));
            }
        }

        var jobs = new List<DependentJob>();
        var i = 0;
        while (i < terms.Count)
        {
            var first = terms[i];
            var list = new List<DependencyTerm>();
            var targets = new List<TargetStatus?>();
            for (; i < terms.Count && terms[i].Job == first.Job; i++)
            {
                var term = terms[i].Term;
                list.Add(term);
                if (term.Kind == DependencyKind.AfterCorr && term.Target is { } corr && first.Task is { } k && !first.Holder &&
                    pairs.TryGetValue((corr.Value, k), out var pair))
                {
                    targets.Add(pair);
                    continue;
                }

                targets.Add(term.Target is { } t && statuses.TryGetValue((t.Value, term.Task), out var status) ? status : null);
            }

            jobs.Add(new DependentJob(new JobId(first.Job), first.Name, first.User, new Dependency(list, first.Any), targets)
            {
                ArrayHolder = first.Holder,
                KillOnInvalid = first.Kill,
            });
        }

        return (jobs, running);
    }

    /// <summary>The status of one row in <paramref name="state"/>.</summary>
    private static TargetStatus OneRow(string state, DateTimeOffset? began) => new(
        state == "PENDING" ? 1 : 0,
        state == "RUNNING" ? 1 : 0,
        state == "COMPLETED" ? 1 : 0,
        state is "PENDING" or "RUNNING" or "COMPLETED" ? 0 : 1,
        began);

    public Task<DependencyChangeOutcome> SetDependencyAsync(JobId id, Dependency? dependency, DateTimeOffset now, string detail, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            var current = await LockJobAsync(connection, tx, id, ct).ConfigureAwait(false);
            if (current is not { } row)
            {
                return DependencyChangeOutcome.NotFound;
            }

            if (row.State != JobState.Pending)
            {
                return DependencyChangeOutcome.NotPending;
            }

            if (dependency is not null && await ReachesAsync(connection, tx, dependency.Targets.ToList(), id, ct).ConfigureAwait(false))
            {
                return DependencyChangeOutcome.Cycle;
            }

            await using (var delete = Command(connection, tx, "DELETE FROM job_dependencies WHERE job_id = @id;").With("id", id.Value))
            {
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (dependency is not null)
            {
                await InsertDependencyAsync(connection, tx, id, dependency, ct).ConfigureAwait(false);
            }

            // The next pass gives the reason anew.
            await using (var reason = Command(connection, tx,
                "UPDATE jobs SET reason = NULL WHERE id = @id AND reason IN ('Dependency', 'DependencyNeverSatisfied');").With("id", id.Value))
            {
                await reason.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await InsertEventsAsync(connection, tx, id, [new(now, JobEventKind.DependencyChanged, detail)], ct).ConfigureAwait(false);
            return DependencyChangeOutcome.Changed;
        }, ct);

    /// <summary>Whether <paramref name="job"/> is among <paramref name="targets"/>, their arrays' jobs, or what they wait for, transitively.</summary>
    private static async Task<bool> ReachesAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<JobId> targets, JobId job, CancellationToken ct)
    {
        if (targets.Count == 0)
        {
            return false;
        }

        // The ids are numbers of our own parsing, written into the statement. UNION (not ALL) ends the walk on a cycle
        // already in the table. A job of an array (or the array itself) counts as the array: waiting for it waits for all.
        var seeds = string.Join(" UNION ", targets.Select(t => $"SELECT CAST({t.Value} AS bigint)"));
        await using var command = Command(connection, tx, $"""
            WITH RECURSIVE reach(id) AS (
                {seeds}
                UNION
                SELECT e.id FROM reach r JOIN (
                    SELECT d.job_id AS source, d.target_id AS id FROM job_dependencies d WHERE d.target_id IS NOT NULL
                    UNION ALL
                    SELECT x.array_job_id, x.id FROM jobs x WHERE x.array_job_id IS NOT NULL) e ON e.source = r.id)
            SELECT COUNT(*) FROM reach r
            WHERE r.id = @job OR r.id = (SELECT array_job_id FROM jobs WHERE id = @job);
            """).With("job", job.Value);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    /// <summary>Forgets the dependencies of pending jobs whose dependency is met (Slurm then shows "(null)").</summary>
    public Task DropDependenciesAsync(IReadOnlyList<JobId> jobs, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        if (jobs.Count == 0)
        {
            return Task.CompletedTask;
        }

        return WriteAsync(async (connection, tx) =>
        {
            await using var delete = Command(connection, tx, "DELETE FROM job_dependencies WHERE job_id = @id;");
            var id = delete.Parameter("id", DbType.Int64);
            foreach (var job in jobs)
            {
                id.Value = job.Value;
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, ct);
    }

    /// <summary>Adds each job's dependency and the state of its terms to the records that have one.</summary>
    private async Task<IReadOnlyList<JobRecord>> WithDependenciesAsync(IReadOnlyList<JobRecord> records, CancellationToken ct)
    {
        if (records.Count == 0)
        {
            return records;
        }

        // The ids are numbers of our own reading: written into the statement, as many as a page holds.
        var ids = string.Join(", ", records.Where(ShowsDependency).Select(r => r.Id.ToString()));
        if (ids.Length == 0)
        {
            return records;
        }

        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        var (dependents, running) = await LoadDependentsAsync(connection, null, $"j.id IN ({ids})", _ => { }, ct).ConfigureAwait(false);
        if (dependents.Count == 0)
        {
            return records;
        }

        // Only an after:ID+N term reads the time, and only for its display.
        var byId = DependencyGate.Evaluate(dependents, running, DateTimeOffset.UtcNow).ToDictionary(v => v.Id);
        var dependencies = dependents.ToDictionary(d => d.Id, d => d.Dependency);
        return records.Select(r => dependencies.TryGetValue(r.Id, out var dependency)
            ? r with { Spec = r.Spec with { Dependency = dependency }, DependencyStates = byId[r.Id].Terms }
            : r).ToList();
    }

    /// <summary>A job shows its dependency while it waits, and after it ended without starting (cancelled, perhaps for it).</summary>
    private static bool ShowsDependency(JobRecord job) =>
        job.State == JobState.Pending || (job.State.IsTerminal() && job.StartTime is null);
}
