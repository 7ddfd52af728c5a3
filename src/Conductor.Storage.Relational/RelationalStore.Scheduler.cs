using System.Data;
using System.Data.Common;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

public abstract partial class RelationalStore
{
    public Task<SchedulerSnapshot> LoadSnapshotAsync(CancellationToken ct) =>
        ReadAsync(async (connection, tx) =>
        {
            var pending = await ReadPendingAsync(connection, tx, $"FROM {Dialect.PendingJobs} WHERE state = 'PENDING'", null, ct).ConfigureAwait(false);
            return await ReadClusterAsync(connection, tx, pending, ct).ConfigureAwait(false);
        }, ct);

    public Task<SchedulerSnapshot> LoadSnapshotAsync(PendingSet pending, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pending);
        return ReadAsync(async (connection, tx) =>
        {
            if (pending.Mark is not { } since)
            {
                // The first pass of this set: its position first, then every pending job, in one snapshot.
                ChangeMark mark;
                await using (var now = Command(connection, tx, Dialect.ChangeMarkNow + ";"))
                await using (var r = await now.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    await r.ReadAsync(ct).ConfigureAwait(false);
                    mark = new ChangeMark(r.GetInt64(0), r.GetInt64(1));
                }

                pending.Reset(
                    await ReadPendingAsync(connection, tx, $"FROM {Dialect.PendingJobs} WHERE state = 'PENDING'", null, ct).ConfigureAwait(false),
                    mark);
            }
            else
            {
                // The changes after the set's position; the position moves over those whose transactions have ended.
                var changed = new HashSet<JobId>();
                var settled = since;
                await using (var changes = Command(connection, tx, $"""
                    SELECT xid, seq, job_id, {Dialect.ChangeHorizon} FROM job_changes WHERE {Dialect.ChangesAfter} ORDER BY xid, seq;
                    """).With("xid", since.Transaction).With("seq", since.Sequence))
                await using (var r = await changes.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    var open = false;
                    while (await r.ReadAsync(ct).ConfigureAwait(false))
                    {
                        changed.Add(new JobId(r.GetInt64(2)));
                        open |= r.GetInt64(0) >= r.GetInt64(3);
                        if (!open)
                        {
                            settled = new ChangeMark(r.GetInt64(0), r.GetInt64(1));
                        }
                    }
                }

                var current = changed.Count == 0
                    ? []
                    : await ReadPendingAsync(connection, tx, $"""
                        FROM jobs
                        WHERE state = 'PENDING' AND id IN (SELECT job_id FROM job_changes WHERE {Dialect.ChangesAfter})
                        """, c => c.With("xid", since.Transaction).With("seq", since.Sequence), ct).ConfigureAwait(false);
                pending.Apply(changed, current, settled);
            }

            return await ReadClusterAsync(connection, tx, pending.Jobs, ct).ConfigureAwait(false);
        }, ct);
    }

    public Task PruneChangesAsync(ChangeMark upTo, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            await using var prune = Command(connection, tx, "DELETE FROM job_changes WHERE (xid, seq) <= (@xid, @seq);")
                .With("xid", upTo.Transaction).With("seq", upTo.Sequence);
            return await prune.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// The pending jobs of <paramref name="from"/> (a FROM and WHERE): the hot path of every scheduling pass, only the
    /// columns the policy needs, and one string per distinct partition and account.
    /// </summary>
    private static async Task<List<PendingJob>> ReadPendingAsync(
        DbConnection connection, DbTransaction tx, string from, Action<DbCommand>? bind, CancellationToken ct)
    {
        var partitions = new Dictionary<string, string>(StringComparer.Ordinal);
        var gresLists = new Dictionary<string, GresList>(StringComparer.Ordinal);
        await using var command = Command(connection, tx, $"""
            SELECT id, priority, submit_time, partition, ntasks * cpus_per_task, memory_mib, exclusive, hold,
                   begin_time, time_limit_seconds, reason, account, gres, array_job_id, array_task_id, array_max_running
            {from};
            """);
        bind?.Invoke(command);
        return await ReadAllAsync(command, r =>
                {
                    var partition = r.GetString(3);
                    if (!partitions.TryGetValue(partition, out var shared))
                    {
                        partitions[partition] = shared = partition;
                    }

                    var account = r.GetString(11);
                    if (!partitions.TryGetValue(account, out var sharedAccount))
                    {
                        partitions[account] = sharedAccount = account;
                    }

                    GresList? gres = null;
                    if (!r.IsDBNull(12))
                    {
                        var text = r.GetString(12);
                        if (!gresLists.TryGetValue(text, out gres))
                        {
                            gresLists[text] = gres = GresList.Parse(text);
                        }
                    }

                    var limit = r.GetInt64OrNull(9);
                    var array = r.GetInt64OrNull(13) is { } arrayJob
                        ? new ArrayMembership(new JobId(arrayJob), r.IsDBNull(14), r.GetInt32OrNull(15))
                        : null;
                    return new PendingJob(
                        new JobId(r.GetInt64(0)),
                        r.GetInt32(1),
                        StoreValues.FromMs(r.GetInt64(2)),
                        shared,
                        r.GetInt32(4),
                        r.GetInt64OrNull(5) ?? 0,
                        r.GetBoolean(6),
                        r.GetBoolean(7),
                        r.GetTimeOrNull(8),
                        limit is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                        r.GetStringOrNull(10),
                        sharedAccount,
                        gres,
                        Array: array);
                }, ct).ConfigureAwait(false);
    }

    /// <summary>The nodes with their allocations and the pending dependents, read in the transaction that read <paramref name="pending"/>.</summary>
    private async Task<SchedulerSnapshot> ReadClusterAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<PendingJob> pending, CancellationToken ct)
    {
        var nodes = new List<NodeSnapshot>();
        var arrayRunning = new Dictionary<JobId, int>();
        await using (var command = Command(connection, tx, $"""
                SELECT n.name, n.cpus, n.memory_mib, n.partitions, n.state,
                       a.job_id, a.cores, a.memory_mib, a.exclusive, a.created_time, j.time_limit_seconds,
                       n.gres, a.devices, j.account, n.drain_reason, j.array_job_id, j.array_max_running
                FROM nodes n
                LEFT JOIN allocations a ON a.node = n.name
                LEFT JOIN jobs j ON j.id = a.job_id
                ORDER BY n.name{Dialect.ByteOrder}, a.job_id;
                """))
        {
            await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            List<RunningAllocation>? allocations = null;
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var name = r.GetString(0);
                if (nodes.Count == 0 || nodes[^1].Name.Value != name)
                {
                    allocations = [];
                    nodes.Add(new NodeSnapshot(
                        new NodeName(name),
                        r.GetInt32(1),
                        r.GetInt64(2),
                        StoreValues.ParseList(r.GetString(3)),
                        ParseNodeState(r.GetString(4)),
                        allocations,
                        GresList.Parse(r.GetStringOrNull(11)),
                        !r.IsDBNull(14)));
                }

                if (!r.IsDBNull(5))
                {
                    var created = StoreValues.FromMs(r.GetInt64(9));
                    var limit = r.GetInt64OrNull(10);
                    allocations!.Add(new RunningAllocation(
                        new JobId(r.GetInt64(5)),
                        StoreValues.ParseCores(r.GetString(6)),
                        r.GetInt64(7),
                        r.GetBoolean(8),
                        limit is { } seconds ? created + TimeSpan.FromSeconds(seconds) : null,
                        GresDevice.ParseList(r.GetStringOrNull(12)),
                        r.GetStringOrNull(13),
                        created));
                    if (!r.IsDBNull(15) && !r.IsDBNull(16))
                    {
                        var array = new JobId(r.GetInt64(15));
                        arrayRunning[array] = arrayRunning.GetValueOrDefault(array) + 1;
                    }
                }
            }
        }

        var (dependents, running) = await LoadDependentsAsync(connection, tx, PendingDependents, _ => { }, ct).ConfigureAwait(false);
        return new SchedulerSnapshot(pending, nodes, ArrayRunning: arrayRunning) { Dependents = dependents, SingletonsRunning = running };
    }

    /// <summary>
    /// Commits a plan in one transaction, row by row with one prepared statement of each kind: each start a
    /// guarded PENDING → RUNNING (not held meanwhile) with its allocation and its scheduled event, then the reasons of
    /// the jobs left waiting. A backend whose database can take the whole plan as a set in one statement overrides this.
    /// </summary>
    public virtual Task<IReadOnlyList<JobStart>> CommitAsync(SchedulingPlan plan, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return WriteAsync<IReadOnlyList<JobStart>>(async (connection, tx) =>
        {
            var won = new List<JobStart>(plan.Starts.Count);
            if (plan.Starts.Count > 0)
            {
                await using var start = Command(connection, tx, $"""
                    UPDATE jobs SET {StartAttempt("@node", "@cores", "@devices")}
                    WHERE id = @id AND state = 'PENDING' AND array_tasks IS NULL AND NOT hold
                      AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = @node AND (n.state = 'Down' OR n.drain_reason IS NOT NULL))
                    RETURNING exclusive, attempt;
                    """).With("now", now);
                var startRow = Bind(start, ("id", DbType.Int64), ("node", DbType.String), ("cores", DbType.String), ("devices", DbType.String));

                await using var allocate = Command(connection, tx, """
                    INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time, devices)
                    VALUES (@id, @node, @cores, @cpus, @memory, @exclusive, @attempt, @now, @devices);
                    """).With("now", now);
                var allocationRow = Bind(allocate, ("id", DbType.Int64), ("node", DbType.String), ("cores", DbType.String),
                    ("cpus", DbType.Int32), ("memory", DbType.Int64), ("exclusive", DbType.Boolean), ("attempt", DbType.Int32),
                    ("devices", DbType.String));

                await using var scheduled = Command(connection, tx, "INSERT INTO job_events (job_id, time, kind, detail) VALUES (@id, @now, @kind, @detail);")
                    .With("now", now)
                    .With("kind", JobEventKind.Scheduled.ToWireName());
                var eventRow = Bind(scheduled, ("id", DbType.Int64), ("detail", DbType.String));

                foreach (var job in plan.Starts)
                {
                    var cores = StoreValues.FormatCores(job.Cores);
                    bool exclusive;
                    int attempt;
                    var devices = job.GresDevices.Count == 0 ? (object)DBNull.Value : GresDevice.Format(job.GresDevices);
                    startRow(job.JobId.Value, job.Node.Value, cores, devices);
                    await using (var reader = await start.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    {
                        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                        {
                            // Not PENDING any more (cancelled, or started by another pass), or its node was declared
                            // down or drained since the snapshot: the guarded write lost.
                            continue;
                        }

                        exclusive = reader.GetBoolean(0);
                        attempt = reader.GetInt32(1);
                    }

                    allocationRow(job.JobId.Value, job.Node.Value, cores, job.Cores.Count, job.MemoryMiB, exclusive, attempt, devices);
                    await allocate.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    eventRow(job.JobId.Value, job.GresDevices.Count == 0
                        ? $"node={job.Node.Value} cpus={job.Cores.Count} cores={cores}"
                        : $"node={job.Node.Value} cpus={job.Cores.Count} cores={cores} gres={GresDevice.Format(job.GresDevices)}");
                    await scheduled.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    won.Add(job);
                }
            }

            if (plan.ReasonChanges.Count > 0)
            {
                // A hold or release since the snapshot wins: a held job takes only a hold's reason, a free one none.
                await using var reason = Command(connection, tx,
                    "UPDATE jobs SET reason = @reason WHERE id = @id AND state = 'PENDING' AND hold = (@reason LIKE 'JobHeld%');");
                var reasonRow = Bind(reason, ("id", DbType.Int64), ("reason", DbType.String));
                foreach (var change in plan.ReasonChanges)
                {
                    reasonRow(change.JobId.Value, change.Reason);
                    await reason.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            if (plan.Reservations is { } reservations)
            {
                // The plan's reservations replace the previous pass's.
                await using var clear = Command(connection, tx, "UPDATE jobs SET expected_start = NULL WHERE expected_start IS NOT NULL;");
                await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var expect = Command(connection, tx, "UPDATE jobs SET expected_start = @time WHERE id = @id AND state = 'PENDING';");
                var expectRow = Bind(expect, ("id", DbType.Int64), ("time", DbType.Int64));
                foreach (var reservation in reservations)
                {
                    expectRow(reservation.JobId.Value, reservation.Time.ToUnixTimeMilliseconds());
                    await expect.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            return won;
        }, ct);
    }

    public Task<IReadOnlyList<UsageRecord>> LoadEndedUsageAsync(DateTimeOffset endedAfter, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<UsageRecord>>(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, """
                SELECT id, account, ntasks * cpus_per_task, devices, start_time, end_time
                FROM jobs
                WHERE state NOT IN ('PENDING', 'RUNNING') AND end_time > @after AND start_time IS NOT NULL
                ORDER BY end_time
                LIMIT @limit;
                """).With("after", endedAfter).With("limit", limit);
            return await ReadAllAsync(command, r => new UsageRecord(
                new JobId(r.GetInt64(0)),
                r.GetString(1),
                r.GetInt32(2),
                GresDevice.ParseList(r.GetStringOrNull(3)).Count(d => d.Name == GresDevice.Gpu),
                StoreValues.FromMs(r.GetInt64(4)),
                StoreValues.FromMs(r.GetInt64(5))), ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// The columns of a PENDING → RUNNING start (with the start time in <c>@now</c>): the next attempt on its
    /// placement, with everything the previous attempt left (times, exit code, error, process, output paths, usage) cleared.
    /// </summary>
    protected static string StartAttempt(string node, string cores, string devices) => $"""
        state = 'RUNNING', reason = NULL, attempt = attempt + 1, node = {node}, cores = {cores},
        devices = {devices}, expected_start = NULL,
        start_time = @now, end_time = NULL, exit_code = NULL, error_msg = NULL,
        pid = NULL, pid_start_ticks = NULL, launched_time = NULL, stdout_path = NULL, stderr_path = NULL,
        cpu_seconds = NULL, max_rss_kib = NULL
        """;

    /// <summary>Adds parameters to a command run once per row, and returns what binds a row's values to them, in order.</summary>
    private static BindRow Bind(DbCommand command, params (string Name, DbType Type)[] columns)
    {
        var parameters = columns.Select(c => command.Parameter(c.Name, c.Type)).ToArray();
        return values =>
        {
            for (var i = 0; i < parameters.Length; i++)
            {
                parameters[i].Value = values[i];
            }
        };
    }

    private delegate void BindRow(params object[] values);
}
