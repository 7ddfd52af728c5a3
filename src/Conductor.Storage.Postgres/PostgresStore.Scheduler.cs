using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;
using Conductor.Storage.Common;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

public sealed partial class PostgresStore
{
    public Task<SchedulerSnapshot> LoadSnapshotAsync(CancellationToken ct) =>
        ReadAsync(async (connection, tx) =>
        {
            var pending = new List<PendingJob>();
            await using (var command = Command(connection, tx, """
                SELECT id, priority, submit_time, partition, ntasks * cpus_per_task, memory_mib, exclusive, hold,
                       begin_time, time_limit_seconds, reason, account, gres
                FROM jobs
                WHERE state = 'PENDING';
                """))
            {
                // The hot path of every scheduling pass: only the columns the policy needs, from the partial
                // index of pending jobs, and one string per distinct partition.
                var partitions = new Dictionary<string, string>(StringComparer.Ordinal);
                var gresLists = new Dictionary<string, GresList>(StringComparer.Ordinal);
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
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
                    pending.Add(new PendingJob(
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
                        gres));
                }
            }

            var nodes = new List<NodeSnapshot>();
            await using (var command = Command(connection, tx, """
                SELECT n.name, n.cpus, n.memory_mib, n.partitions, n.state,
                       a.job_id, a.cores, a.memory_mib, a.exclusive, a.created_time, j.time_limit_seconds,
                       n.gres, a.devices, j.account
                FROM nodes n
                LEFT JOIN allocations a ON a.node = n.name
                LEFT JOIN jobs j ON j.id = a.job_id
                ORDER BY n.name COLLATE "C", a.job_id;
                """))
            {
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                string? currentName = null;
                List<RunningAllocation>? allocations = null;
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    var name = r.GetString(0);
                    if (name != currentName)
                    {
                        currentName = name;
                        allocations = [];
                        nodes.Add(new NodeSnapshot(
                            new NodeName(name),
                            r.GetInt32(1),
                            r.GetInt64(2),
                            StoreValues.ParseList(r.GetString(3)),
                            ParseNodeState(r.GetString(4)),
                            allocations,
                            GresList.Parse(r.GetStringOrNull(11))));
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
                    }
                }
            }

            return new SchedulerSnapshot(pending, nodes);
        }, ct);

    public Task<IReadOnlyList<JobStart>> CommitAsync(SchedulingPlan plan, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Starts.Count == 0 && plan.ReasonChanges.Count == 0 && plan.Reservations is null)
        {
            return Task.FromResult<IReadOnlyList<JobStart>>([]);
        }

        return WriteAsync<IReadOnlyList<JobStart>>(async (connection, tx) =>
        {
            // One command, one round trip, whatever the size of the plan: the rows are passed as arrays.
            await using var command = Command(connection, tx, "");
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
            command.With("touched", NpgsqlDbType.Array | NpgsqlDbType.Bigint, touched);

            if (plan.Starts.Count > 0)
            {
                // A job listed twice starts once, with its first placement (DISTINCT ON keeps the lowest ordinal).
                sql.AppendLine("""
                    WITH plan AS (
                        SELECT DISTINCT ON (p.id) p.id, p.node, p.cores, p.cpus, p.memory_mib, NULLIF(p.devices, '') AS devices, p.ord
                        FROM unnest(@start_ids, @start_nodes, @start_cores, @start_cpus, @start_memory, @start_devices)
                             WITH ORDINALITY AS p(id, node, cores, cpus, memory_mib, devices, ord)
                        ORDER BY p.id, p.ord),
                    started AS (
                        UPDATE jobs j SET
                            state = 'RUNNING', reason = NULL, attempt = j.attempt + 1, node = p.node, cores = p.cores,
                            devices = p.devices, expected_start = NULL, start_time = @now, end_time = NULL, exit_code = NULL, error_msg = NULL,
                            pid = NULL, pid_start_ticks = NULL, launched_time = NULL, stdout_path = NULL, stderr_path = NULL,
                            cpu_seconds = NULL, max_rss_kib = NULL
                        FROM plan p
                        WHERE j.id = p.id AND j.state = 'PENDING'
                          AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = p.node AND n.state = 'Down')
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
                command
                    .With("start_ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint, starts.Select(s => s.JobId.Value).ToArray())
                    .With("start_nodes", NpgsqlDbType.Array | NpgsqlDbType.Text, starts.Select(s => s.Node.Value).ToArray())
                    .With("start_cores", NpgsqlDbType.Array | NpgsqlDbType.Text, starts.Select(s => StoreValues.FormatCores(s.Cores)).ToArray())
                    .With("start_cpus", NpgsqlDbType.Array | NpgsqlDbType.Integer, starts.Select(s => s.Cores.Count).ToArray())
                    .With("start_memory", NpgsqlDbType.Array | NpgsqlDbType.Bigint, starts.Select(s => s.MemoryMiB).ToArray())
                    .With("start_devices", NpgsqlDbType.Array | NpgsqlDbType.Text, starts.Select(s => GresDevice.Format(s.GresDevices)).ToArray())
                    .With("now", NpgsqlDbType.Bigint, PgValues.ToMs(now))
                    .With("scheduled", NpgsqlDbType.Text, JobEventKind.Scheduled.ToWireName());
            }

            if (plan.ReasonChanges.Count > 0)
            {
                // Only pending jobs take a reason; a job listed twice takes its last one; unchanged rows are not written.
                sql.AppendLine("""
                    UPDATE jobs j SET reason = r.reason
                    FROM (SELECT DISTINCT ON (c.id) c.id, c.reason
                          FROM unnest(@reason_ids, @reason_texts) WITH ORDINALITY AS c(id, reason, ord)
                          ORDER BY c.id, c.ord DESC) r
                    WHERE j.id = r.id AND j.state = 'PENDING' AND j.reason IS DISTINCT FROM r.reason;
                    """);
                command
                    .With("reason_ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint, plan.ReasonChanges.Select(c => c.JobId.Value).ToArray())
                    .With("reason_texts", NpgsqlDbType.Array | NpgsqlDbType.Text, plan.ReasonChanges.Select(c => c.Reason).ToArray());
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
                command
                    .With("expect_ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint, reservations.Select(r => r.JobId.Value).ToArray())
                    .With("expect_times", NpgsqlDbType.Array | NpgsqlDbType.Bigint, reservations.Select(r => PgValues.ToMs(r.Time)).ToArray());
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

    public Task<IReadOnlyList<UsageRecord>> LoadEndedUsageAsync(DateTimeOffset endedAfter, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<UsageRecord>>(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, """
                SELECT id, account, ntasks * cpus_per_task, devices, start_time, end_time
                FROM jobs
                WHERE state NOT IN ('PENDING', 'RUNNING') AND end_time > @after AND start_time IS NOT NULL
                ORDER BY end_time
                LIMIT @limit;
                """)
                .With("after", NpgsqlDbType.Bigint, PgValues.ToMs(endedAfter))
                .With("limit", NpgsqlDbType.Integer, limit);
            return await ReadUsageAsync(command, ct).ConfigureAwait(false);
        }, ct);

    private static async Task<IReadOnlyList<UsageRecord>> ReadUsageAsync(System.Data.Common.DbCommand command, CancellationToken ct)
    {
        var records = new List<UsageRecord>();
        await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            records.Add(new UsageRecord(
                new JobId(r.GetInt64(0)),
                r.GetString(1),
                r.GetInt32(2),
                GresDevice.ParseList(r.GetStringOrNull(3)).Count(d => d.Name == GresDevice.Gpu),
                StoreValues.FromMs(r.GetInt64(4)),
                StoreValues.FromMs(r.GetInt64(5))));
        }

        return records;
    }
}
