using System.Data.Common;
using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

/// <summary>
/// Job arrays. An array's row keeps its unstarted tasks as one set (<c>array_tasks</c>); a task gets a row of its own
/// only when it is about to start (or is named alone by a command), and the last one takes over the array's row. A
/// cancel or hold of several unstarted tasks carves them off into one more row that holds them as a set (a "holder"
/// row: <c>array_job_id</c> names the array, <c>array_task_id</c> is null), whatever their number. Nothing here reads
/// the unstarted tasks one by one or the ended tasks of an array.
/// </summary>
public abstract partial class RelationalStore
{
    /// <summary>The columns a split-off task copies from its array's row, in the order of <see cref="SplitColumns"/>.</summary>
    private const string CopiedColumns =
        "reason, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, memory_mib, time_limit_seconds, work_dir, " +
        "stdout_pattern, stderr_pattern, environment, arguments, exclusive, requeue, max_retries, nice, hold, begin_time, " +
        "priority, submit_time, eligible_time, gres, owner, array_max_running, array_spec, admin_hold, kill_invalid_dep, gpus_per_job, gpus_per_task";

    private const string SplitColumns = "state, attempt, array_job_id, array_task_id, " + CopiedColumns;

    public async Task<int> SplitArrayTasksAsync(DateTimeOffset now, CancellationToken ct)
    {
        // Most passes find no array to split: a look at the partial index, without taking the write lock.
        var any = await QueryAsync(
                "SELECT id FROM jobs WHERE array_tasks IS NOT NULL AND state = 'PENDING' AND hold = @no LIMIT 1;",
                c => c.With("no", false),
                r => r.GetInt64(0),
                ct)
            .ConfigureAwait(false);
        return any.Count == 0 ? 0 : await SplitArrayTasksLockedAsync(now, ct).ConfigureAwait(false);
    }

    private Task<int> SplitArrayTasksLockedAsync(DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            // One row per array that still holds unstarted tasks; the partial index holds only those. An array that waits
            // for a dependency keeps its tasks, unless it waits with aftercorr: then a few tasks at a time are split off
            // to wait each for its own pair (as Slurm does).
            var arrays = new List<(JobId Id, TaskSet Tasks, int? MaxRunning, int Cpus, string Partition, bool Exclusive, bool Corr, JobId Array)>();
            await using (var command = Command(connection, tx, $"""
                SELECT id, array_tasks, array_max_running, ntasks * cpus_per_task, partition, exclusive,
                       EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id AND d.kind = 'aftercorr'), array_job_id
                FROM jobs
                WHERE array_tasks IS NOT NULL AND state = 'PENDING' AND hold = @no AND (begin_time IS NULL OR begin_time <= @now)
                  AND (NOT EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id)
                       OR EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id AND d.kind = 'aftercorr'))
                ORDER BY priority DESC, submit_time, id{Dialect.LockRows};
                """).With("no", false).With("now", now))
            {
                arrays = await ReadAllAsync(command, r => (new JobId(r.GetInt64(0)), TaskSet.Parse(r.GetString(1)), r.GetInt32OrNull(2),
                    r.GetInt32(3), r.GetString(4), r.GetBoolean(5), r.GetBoolean(6), new JobId(r.GetInt64(7))), ct).ConfigureAwait(false);
            }

            if (arrays.Count == 0)
            {
                return 0;
            }

            // The tasks of arrays that are running or split off and pending: few, from their own partial index. A task
            // whose dependency can never be met waits for nothing that could come: it does not count.
            var running = new Dictionary<JobId, int>();
            var pending = new Dictionary<JobId, int>();
            await using (var command = Command(connection, tx, """
                SELECT array_job_id, state, COUNT(*) FROM jobs
                WHERE array_job_id IS NOT NULL AND state IN ('PENDING', 'RUNNING') AND array_task_id IS NOT NULL
                  AND (reason IS NULL OR reason <> 'DependencyNeverSatisfied')
                GROUP BY array_job_id, state;
                """))
            {
                foreach (var (array, state, count) in await ReadAllAsync(command, r => (new JobId(r.GetInt64(0)), r.GetString(1), Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture)), ct)
                             .ConfigureAwait(false))
                {
                    (state == "RUNNING" ? running : pending)[array] = count;
                }
            }

            List<(int Cpus, int AllocatedCpus, int Allocations, IReadOnlyList<string> Partitions, NodeState State)> nodes;
            await using (var command = Command(connection, tx, """
                SELECT n.cpus, n.partitions, CASE WHEN n.drain_reason IS NULL THEN n.state ELSE 'Drain' END,
                       COALESCE((SELECT SUM(a.cpus) FROM allocations a WHERE a.node = n.name), 0),
                       (SELECT COUNT(*) FROM allocations a WHERE a.node = n.name)
                FROM nodes n;
                """))
            {
                nodes = await ReadAllAsync(command, r => (r.GetInt32(0), Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture),
                    Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture), StoreValues.ParseList(r.GetString(1)),
                    ParseNodeState(r.GetString(2))), ct).ConfigureAwait(false);
            }

            var split = 0;
            foreach (var array in arrays)
            {
                var waiting = pending.GetValueOrDefault(array.Array);
                var count = JobArrayGate.TasksToSplit(
                    array.Tasks.Count,
                    array.MaxRunning,
                    running.GetValueOrDefault(array.Array) + waiting,
                    waiting,
                    array.Corr
                        ? JobArrayGate.CorrespondingTasksWaiting
                        : JobArrayGate.FreeSlots(nodes, array.Partition, array.Cpus, array.Exclusive));
                if (count == 0)
                {
                    continue;
                }

                var (taken, rest) = array.Tasks.Take(count);
                await SplitAsync(connection, tx, array.Id, array.Array, taken, rest, now, ct).ConfigureAwait(false);
                split += taken.Count;

                // The next holder row of the same array sees these as split off and waiting.
                pending[array.Array] = waiting + taken.Count;
            }

            return split;
        }, ct);

    public async Task<JobRecord?> GetTaskAsync(JobId array, int task, CancellationToken ct)
    {
        var rows = await QueryAsync(
                $"""
                SELECT {JobRows.Columns} FROM jobs j
                WHERE (j.array_job_id = @array AND (j.array_task_id = @task OR j.array_tasks IS NOT NULL)) OR j.id = @array;
                """,
                c => c.With("array", array.Value).With("task", task),
                JobRows.Read,
                ct)
            .ConfigureAwait(false);
        if (rows.FirstOrDefault(r => r.ArrayTaskId == task && r.ArrayJobId == array) is { } own)
        {
            return (await WithDependenciesAsync([own], ct).ConfigureAwait(false))[0];
        }

        // An unstarted task is the row that holds it (the array's, or one carved off it), seen as that one task.
        return rows.FirstOrDefault(r => r.ArrayJobId == array && r.ArrayTaskId is null && r.ArrayPendingTasks?.Contains(task) == true) is { } holder
            ? (await WithDependenciesAsync([holder], ct).ConfigureAwait(false))[0] with { ArrayTaskId = task, ArrayPendingTasks = null }
            : null;
    }

    public Task<IReadOnlyList<JobId>> ResolveAsync(JobRef reference, bool splitUnstarted, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<JobId>>(async (connection, tx) =>
        {
            (JobId? ArrayJobId, TaskSet? Unstarted, JobState State)? row = null;
            await using (var command = Command(connection, tx, $"SELECT array_job_id, array_tasks, state FROM jobs WHERE id = @id{Dialect.LockRows};")
                             .With("id", reference.Id.Value))
            {
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    row = (r.GetInt64OrNull(0) is { } a ? new JobId(a) : null, r.GetStringOrNull(1) is { } t ? TaskSet.Parse(t) : null,
                        StoreValues.ParseState(r.GetString(2)));
                }
            }

            if (row is not { } found || (reference.IsTasks && found.ArrayJobId != reference.Id))
            {
                // Unknown, or tasks of a job that is not an array (nor the row of one).
                return [];
            }

            if (found.ArrayJobId != reference.Id)
            {
                // A plain job, or a task named by its raw id.
                return [reference.Id];
            }

            if (reference.Tasks is not { } tasks)
            {
                // The whole array: its row and every task that is still pending or running.
                await using var active = Command(connection, tx, """
                    SELECT id FROM jobs
                    WHERE array_job_id = @array AND array_job_id IS NOT NULL AND state IN ('PENDING', 'RUNNING')
                    ORDER BY id;
                    """).With("array", reference.Id.Value);
                var ids = await ReadAllAsync(active, r => new JobId(r.GetInt64(0)), ct).ConfigureAwait(false);
                return ids.Prepend(reference.Id).Distinct().ToList();
            }

            var result = new List<JobId>();
            await using (var command = Command(connection, tx, """
                             SELECT id, array_task_id FROM jobs
                             WHERE array_job_id = @array AND array_task_id BETWEEN @min AND @max
                             ORDER BY array_task_id;
                             """)
                             .With("array", reference.Id.Value).With("min", tasks.Min).With("max", tasks.Max))
            {
                foreach (var (id, task) in await ReadAllAsync(command, r => (new JobId(r.GetInt64(0)), r.GetInt32(1)), ct).ConfigureAwait(false))
                {
                    if (tasks.Contains(task))
                    {
                        result.Add(id);
                    }
                }
            }

            // The rows that hold unstarted tasks: the array's own, and those carved off it (a few).
            var holders = new List<(JobId Id, TaskSet Unstarted)>();
            await using (var command = Command(connection, tx, $"""
                             SELECT id, array_tasks FROM jobs
                             WHERE array_job_id = @array AND array_tasks IS NOT NULL AND state = 'PENDING'
                             ORDER BY id{Dialect.LockRows};
                             """).With("array", reference.Id.Value))
            {
                holders = await ReadAllAsync(command, r => (new JobId(r.GetInt64(0)), TaskSet.Parse(r.GetString(1))), ct).ConfigureAwait(false);
            }

            foreach (var (holder, unstarted) in holders)
            {
                var named = unstarted.Intersect(tasks);
                var rest = unstarted.Except(named);
                if (named.IsEmpty)
                {
                    continue;
                }

                if (!splitUnstarted || (rest.IsEmpty && named.Count > 1))
                {
                    // The row holds just these tasks (or the caller acts on the holder as such).
                    result.Add(holder);
                }
                else if (named.Count > 1)
                {
                    result.Add(await CarveAsync(connection, tx, holder, reference.Id, named, rest, now, ct).ConfigureAwait(false));
                }
                else
                {
                    result.AddRange(await SplitAsync(connection, tx, holder, reference.Id, named.Ids().ToList(), rest, now, ct).ConfigureAwait(false));
                }
            }

            return result;
        }, ct);

    public async Task<ArrayTaskCounts?> GetArrayCountsAsync(JobId array, CancellationToken ct)
    {
        var rows = await QueryAsync(
                """
                SELECT state, COUNT(*), NULL FROM jobs WHERE array_job_id = @array GROUP BY state
                UNION ALL
                SELECT state, 0, array_tasks FROM jobs WHERE array_job_id = @array AND array_tasks IS NOT NULL;
                """,
                c => c.With("array", array.Value),
                r => (State: StoreValues.ParseState(r.GetString(0)), Count: r.GetInt64(1), Unstarted: r.GetStringOrNull(2)),
                ct)
            .ConfigureAwait(false);
        if (rows.Count == 0)
        {
            return null;
        }

        var counts = new Dictionary<JobState, long>();
        foreach (var (state, count, unstarted) in rows)
        {
            // A row that holds unstarted tasks (the array's, or one carved off it) counts as the tasks it holds
            // (pending, or cancelled with it), else as its one task.
            var rowTasks = unstarted is null ? 0 : TaskSet.Parse(unstarted).Count - 1;
            counts[state] = counts.GetValueOrDefault(state) + count + rowTasks;
        }

        return new ArrayTaskCounts(counts);
    }

    /// <summary>
    /// Moves <paramref name="named"/> (several unstarted tasks) from <paramref name="holder"/> into one new PENDING row
    /// that holds them as a set, with the holder's dependency, and returns its id: one row, however many tasks.
    /// </summary>
    private static async Task<JobId> CarveAsync(
        DbConnection connection, DbTransaction tx, JobId holder, JobId array, TaskSet named, TaskSet rest, DateTimeOffset now, CancellationToken ct)
    {
        JobId id;
        await using (var insert = Command(connection, tx, $"""
                         INSERT INTO jobs ({SplitColumns}, array_tasks)
                         SELECT 'PENDING', 0, array_job_id, NULL, {CopiedColumns}, @named FROM jobs WHERE id = @holder
                         RETURNING id;
                         """).With("holder", holder.Value).With("named", named.ToString()))
        {
            id = new JobId(Convert.ToInt64(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture));
        }

        await using (var dependencies = Command(connection, tx, """
                         INSERT INTO job_dependencies (job_id, position, kind, target_id, target_task, minutes, any_of)
                         SELECT @id, position, kind, target_id, target_task, minutes, any_of FROM job_dependencies WHERE job_id = @holder;
                         """).With("id", id.Value).With("holder", holder.Value))
        {
            await dependencies.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using (var update = Command(connection, tx, "UPDATE jobs SET array_tasks = @rest WHERE id = @holder;")
                         .With("holder", holder.Value).With("rest", rest.ToString()))
        {
            await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await InsertEventsAsync(connection, tx, id, [new(now, JobEventKind.Submitted, $"tasks {array}_[{named}] carved off their array")], ct)
            .ConfigureAwait(false);
        return id;
    }

    /// <summary>
    /// Splits <paramref name="taken"/> off the unstarted tasks of <paramref name="holder"/> (the array's row or one
    /// carved off it) into PENDING rows of their own (the last task takes over the holder's row when
    /// <paramref name="rest"/> is empty), and returns their ids in the order taken.
    /// </summary>
    private static async Task<IReadOnlyList<JobId>> SplitAsync(
        DbConnection connection, DbTransaction tx, JobId holder, JobId array, IReadOnlyList<int> taken, TaskSet rest, DateTimeOffset now, CancellationToken ct)
    {
        var ids = new List<JobId>(taken.Count);
        var own = rest.IsEmpty ? taken[^1] : (int?)null;
        await using var insert = Command(connection, tx, $"""
            INSERT INTO jobs ({SplitColumns})
            SELECT 'PENDING', 0, array_job_id, @task, {CopiedColumns} FROM jobs WHERE id = @holder
            RETURNING id;
            """).With("holder", holder.Value);
        var task = insert.Parameter("task", System.Data.DbType.Int32);
        await using var submitted = Command(connection, tx, "INSERT INTO job_events (job_id, time, kind, detail) VALUES (@id, @now, @kind, @detail);")
            .With("now", now)
            .With("kind", JobEventKind.Submitted.ToWireName());
        var eventId = submitted.Parameter("id", System.Data.DbType.Int64);

        // A task waits for what its array waits for (the array's unmet dependency rows).
        await using var dependencies = Command(connection, tx, """
            INSERT INTO job_dependencies (job_id, position, kind, target_id, target_task, minutes, any_of)
            SELECT @id, position, kind, target_id, target_task, minutes, any_of FROM job_dependencies WHERE job_id = @holder;
            """).With("holder", holder.Value);
        var dependencyId = dependencies.Parameter("id", System.Data.DbType.Int64);
        var eventDetail = submitted.Parameter("detail", System.Data.DbType.String);
        foreach (var t in taken)
        {
            if (t == own)
            {
                ids.Add(holder);
                continue;
            }

            task.Value = t;
            var id = new JobId(Convert.ToInt64(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture));
            eventId.Value = id.Value;
            eventDetail.Value = string.Create(CultureInfo.InvariantCulture, $"task {array}_{t} split off its array");
            await submitted.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            dependencyId.Value = id.Value;
            await dependencies.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            ids.Add(id);
        }

        await using var update = Command(connection, tx, own is null
                ? "UPDATE jobs SET array_tasks = @rest WHERE id = @holder;"
                : "UPDATE jobs SET array_tasks = NULL, array_task_id = @own WHERE id = @holder;")
            .With("holder", holder.Value)
            .With("rest", rest.IsEmpty ? null : rest.ToString())
            .With("own", own);
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return ids;
    }
}
