using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;
using Conductor.Storage.Common;

namespace Conductor.Storage.Sqlite;

public sealed partial class SqliteStore
{
    public Task<SchedulerSnapshot> LoadSnapshotAsync(CancellationToken ct) =>
        ReadAsync(async (connection, tx) =>
        {
            var pending = new List<PendingJob>();
            await using (var command = Command(connection, tx, """
                SELECT id, priority, submit_time, partition, ntasks * cpus_per_task, memory_mib, exclusive, hold,
                       begin_time, time_limit_seconds, reason, account, gres
                FROM jobs INDEXED BY ix_jobs_pending
                WHERE state = 'PENDING';
                """))
            {
                // The hot path of every scheduling pass: a plain synchronous loop (the provider's async reads
                // complete synchronously anyway) and one string per distinct partition, account and request.
                var partitions = new Dictionary<string, string>(StringComparer.Ordinal);
                var gresLists = new Dictionary<string, GresList>(StringComparer.Ordinal);
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (r.Read())
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
                ORDER BY n.name, a.job_id;
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
        return WriteAsync<IReadOnlyList<JobStart>>(async (connection, tx) =>
        {
            var won = new List<JobStart>(plan.Starts.Count);
            var nowMs = SqlValues.ToMs(now);

            if (plan.Starts.Count > 0)
            {
                // One command of each kind, rebound per row: the statements are compiled once per transaction.
                await using var start = Command(connection, tx, """
                    UPDATE jobs SET
                        state = 'RUNNING', reason = NULL, attempt = attempt + 1, node = @node, cores = @cores,
                        devices = @devices, expected_start = NULL,
                        start_time = @now, end_time = NULL, exit_code = NULL, error_msg = NULL,
                        pid = NULL, pid_start_ticks = NULL, launched_time = NULL, stdout_path = NULL, stderr_path = NULL,
                        cpu_seconds = NULL, max_rss_kib = NULL
                    WHERE id = @id AND state = 'PENDING'
                      AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = @node AND n.state = 'Down')
                    RETURNING exclusive, attempt;
                    """);
                var startId = start.Add("@id");
                var startNode = start.Add("@node");
                var startCores = start.Add("@cores");
                var startDevices = start.Add("@devices");
                start.Parameters.AddWithValue("@now", nowMs);

                await using var allocate = Command(connection, tx, """
                    INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time, devices)
                    VALUES (@id, @node, @cores, @cpus, @memory, @exclusive, @attempt, @now, @devices);
                    """);
                var allocId = allocate.Add("@id");
                var allocNode = allocate.Add("@node");
                var allocCores = allocate.Add("@cores");
                var allocCpus = allocate.Add("@cpus");
                var allocMemory = allocate.Add("@memory");
                var allocExclusive = allocate.Add("@exclusive");
                var allocAttempt = allocate.Add("@attempt");
                var allocDevices = allocate.Add("@devices");
                allocate.Parameters.AddWithValue("@now", nowMs);

                await using var scheduled = Command(connection, tx,
                    "INSERT INTO job_events (job_id, time, kind, detail) VALUES (@id, @now, @kind, @detail);");
                var eventId = scheduled.Add("@id");
                var eventDetail = scheduled.Add("@detail");
                scheduled.Parameters.AddWithValue("@now", nowMs);
                scheduled.Parameters.AddWithValue("@kind", JobEventKind.Scheduled.ToWireName());

                foreach (var job in plan.Starts)
                {
                    var cores = StoreValues.FormatCores(job.Cores);
                    startId.Value = job.JobId.Value;
                    startNode.Value = job.Node.Value;
                    startCores.Value = cores;
                    var devices = job.GresDevices.Count == 0 ? (object)DBNull.Value : GresDevice.Format(job.GresDevices);
                    startDevices.Value = devices;

                    bool exclusive;
                    long attempt;
                    await using (var reader = await start.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    {
                        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                        {
                            // Not PENDING any more (cancelled, or started by another pass), or its node was declared
                            // down since the snapshot: the guarded write lost.
                            continue;
                        }

                        exclusive = reader.GetBoolean(0);
                        attempt = reader.GetInt64(1);
                    }

                    allocId.Value = job.JobId.Value;
                    allocNode.Value = job.Node.Value;
                    allocCores.Value = cores;
                    allocCpus.Value = job.Cores.Count;
                    allocMemory.Value = job.MemoryMiB;
                    allocExclusive.Value = exclusive;
                    allocAttempt.Value = attempt;
                    allocDevices.Value = devices;
                    await allocate.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

                    eventId.Value = job.JobId.Value;
                    eventDetail.Value = job.GresDevices.Count == 0
                        ? $"node={job.Node.Value} cpus={job.Cores.Count} cores={cores}"
                        : $"node={job.Node.Value} cpus={job.Cores.Count} cores={cores} gres={GresDevice.Format(job.GresDevices)}";
                    await scheduled.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

                    won.Add(job);
                }
            }

            if (plan.ReasonChanges.Count > 0)
            {
                await using var reason = Command(connection, tx, "UPDATE jobs SET reason = @reason WHERE id = @id AND state = 'PENDING';");
                var reasonId = reason.Add("@id");
                var reasonText = reason.Add("@reason");
                foreach (var change in plan.ReasonChanges)
                {
                    reasonId.Value = change.JobId.Value;
                    reasonText.Value = change.Reason;
                    await reason.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            if (plan.Reservations is { } reservations)
            {
                // The plan's reservations replace the previous pass's.
                await using var clear = Command(connection, tx, "UPDATE jobs SET expected_start = NULL WHERE expected_start IS NOT NULL;");
                await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var expect = Command(connection, tx, "UPDATE jobs SET expected_start = @time WHERE id = @id AND state = 'PENDING';");
                var expectId = expect.Add("@id");
                var expectTime = expect.Add("@time");
                foreach (var reservation in reservations)
                {
                    expectId.Value = reservation.JobId.Value;
                    expectTime.Value = SqlValues.ToMs(reservation.Time);
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
                """);
            command.Parameters.AddWithValue("@after", SqlValues.ToMs(endedAfter));
            command.Parameters.AddWithValue("@limit", limit);
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
