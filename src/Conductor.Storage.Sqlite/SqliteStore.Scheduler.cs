using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
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
                       begin_time, time_limit_seconds, reason
                FROM jobs INDEXED BY ix_jobs_pending
                WHERE state = 'PENDING';
                """))
            {
                // The hot path of every scheduling pass: a plain synchronous loop (the provider's async reads
                // complete synchronously anyway) and one string per distinct partition.
                var partitions = new Dictionary<string, string>(StringComparer.Ordinal);
                await using var r = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (r.Read())
                {
                    var partition = r.GetString(3);
                    if (!partitions.TryGetValue(partition, out var shared))
                    {
                        partitions[partition] = shared = partition;
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
                        r.GetStringOrNull(10)));
                }
            }

            var nodes = new List<NodeSnapshot>();
            await using (var command = Command(connection, tx, """
                SELECT n.name, n.cpus, n.memory_mib, n.partitions, n.state,
                       a.job_id, a.cores, a.memory_mib, a.exclusive, a.created_time, j.time_limit_seconds
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
                            allocations));
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
                            limit is { } seconds ? created + TimeSpan.FromSeconds(seconds) : null));
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
                start.Parameters.AddWithValue("@now", nowMs);

                await using var allocate = Command(connection, tx, """
                    INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time)
                    VALUES (@id, @node, @cores, @cpus, @memory, @exclusive, @attempt, @now);
                    """);
                var allocId = allocate.Add("@id");
                var allocNode = allocate.Add("@node");
                var allocCores = allocate.Add("@cores");
                var allocCpus = allocate.Add("@cpus");
                var allocMemory = allocate.Add("@memory");
                var allocExclusive = allocate.Add("@exclusive");
                var allocAttempt = allocate.Add("@attempt");
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
                    await allocate.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

                    eventId.Value = job.JobId.Value;
                    eventDetail.Value = $"node={job.Node.Value} cpus={job.Cores.Count} cores={cores}";
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

            return won;
        }, ct);
    }
}
