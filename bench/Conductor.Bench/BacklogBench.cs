using System.Diagnostics;
using Conductor.Core.Scheduling;
using Conductor.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Conductor.Bench;

/// <summary>
/// A node full of long jobs and K pending jobs behind them, for each K: how fast K jobs are submitted over
/// HTTP, how long a scheduling pass takes, how fast one job is read and the first list page comes, and how
/// much memory the server holds. A fresh server for each size.
/// </summary>
internal static class BacklogBench
{
    private const string Filler = "#!/bin/bash\nsleep 600\n";
    private const string Waiting = "#!/bin/bash\ntrue\n";

    public static async Task<int> RunAsync(string cli, Options options)
    {
        var sizes = options.Ints("sizes", [1000, 10000, 100000]);
        var cpus = options.Int("cpus", 2);
        var submitters = options.Int("submitters", 4);
        var gets = options.Int("gets", 1000);
        var nodes = Math.Clamp(options.Int("nodes", 1), 1, 1000);
        var probes = Math.Clamp(options.Int("passes", 20), 1, 200);
        var insert = options.Flag("insert");
        options.ThrowOnUnknown();
        Console.WriteLine($"# backlog: sizes {string.Join(", ", sizes)}; {nodes} node(s) of {cpus} CPUs full of 'sleep 600'; {submitters} HTTP submitters; {gets} GETs");

        var table = new Table(
            "pending", "submit/s", "srv ms/submit", "pass ms", "whole load ms", "plan ms", "GET p50", "GET p99", "list ms", "RSS MiB", "peak MiB", "idle ms/s");
        var result = new ResultLine().Add("bench", "backlog");
        foreach (var size in sizes)
        {
            var row = await RunSizeAsync(cli, cpus, nodes, size, submitters, gets, probes, insert);
            table.Add(
                Stats.I(size), Stats.F(row.SubmitRate, 0), Stats.F(row.ServerCpuMsPerSubmit, 3),
                Stats.F(row.PassMs), Stats.F(row.LoadMs), Stats.F(row.PlanMs),
                Stats.F(row.GetP50Ms), Stats.F(row.GetP99Ms), Stats.F(row.ListMs), Stats.F(row.RssMiB, 0), Stats.F(row.PeakMiB, 0),
                Stats.F(row.IdleCpuMsPerSecond, 0));
            result.Add($"submit_per_s_{size}", row.SubmitRate, 0)
                .Add($"pass_ms_{size}", row.PassMs)
                .Add($"whole_load_ms_{size}", row.LoadMs)
                .Add($"get_p50_ms_{size}", row.GetP50Ms)
                .Add($"get_p99_ms_{size}", row.GetP99Ms)
                .Add($"list_ms_{size}", row.ListMs)
                .Add($"rss_mib_{size}", row.RssMiB, 0)
                .Add($"idle_cpu_ms_per_s_{size}", row.IdleCpuMsPerSecond, 0);
        }

        Console.WriteLine();
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine("""
            submit/s: K jobs over HTTP; srv ms/submit: server CPU time per submit during that phase.
            pass: the server's own scheduling pass (load + plan + commit, the mean of conductor_scheduler_pass_seconds on
            /metrics) over the passes woken by one more pending job submitted at a time (--passes of them).
            whole load / plan: a snapshot loaded whole (SqliteStore.LoadSnapshotAsync, what a pass did before the pending
            set was kept in memory) and BackfillPolicy.Plan on it, median of 5, in the benchmark process against the live
            database file. --nodes N: N-1 more nodes of the same size, full of running jobs, written into the database
            (no agent runs them). --insert: the K pending jobs are copies of one submitted job written straight into
            the database (seconds instead of minutes; submit/s and srv ms/submit then measure nothing).
            GET: /api/v1/jobs/{id} on random pending ids, ms.
            list: first page of /api/v1/jobs?limit=100, median of 20, ms. RSS/peak: VmRSS/VmHWM of the server.
            idle ms/s: server CPU per second over 2 s with nothing asked of it, after the submits settled.
            """);
        Console.WriteLine(result);
        return 0;
    }

    private sealed record Row(
        double SubmitRate, double ServerCpuMsPerSubmit, double PassMs, double LoadMs, double PlanMs,
        double GetP50Ms, double GetP99Ms, double ListMs, double RssMiB, double PeakMiB, double IdleCpuMsPerSecond);

    private static async Task<Row> RunSizeAsync(string cli, int cpus, int nodes, int size, int submitters, int gets, int probes, bool insert)
    {
        Console.WriteLine($"## {size} pending: starting a server");
        await using var server = await BenchServer.StartAsync(cli, cpus);
        using var client = new ConductorClient(server);

        var fillers = new List<long>();
        for (var i = 0; i < cpus; i++)
        {
            fillers.Add(await client.SubmitAsync(Filler, server.WorkDirectory, "filler", timeLimit: "15"));
        }

        foreach (var id in fillers)
        {
            await client.WaitForStateAsync(id, TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(30), "RUNNING");
        }

        try
        {
            if (nodes > 1)
            {
                await AddFullNodesAsync(server.DatabasePath, nodes - 1);
            }

            var cpuBefore = server.CpuSeconds();
            var passesBefore = await client.PassesAsync();
            var watch = Stopwatch.StartNew();
            var ids = insert
                ? await InsertPendingAsync(server.DatabasePath, await client.SubmitAsync(Waiting, server.WorkDirectory, "waiting"), size)
                : await ThroughputBench.SubmitAllAsync(client, server.WorkDirectory, size, submitters, Waiting);
            var submitSeconds = watch.Elapsed.TotalSeconds;
            var serverCpu = server.CpuSeconds() - cpuBefore;
            var passesAfter = await client.PassesAsync();
            Console.WriteLine($"   submitted {size} in {submitSeconds:F2} s; server CPU {serverCpu * 1000 / size:F3} ms per submit, " +
                $"of which scheduling passes {(passesAfter.Seconds - passesBefore.Seconds) * 1000 / size:F3} ms ({passesAfter.Passes - passesBefore.Passes} passes)");

            var counts = await client.CountsAsync();
            if (counts.GetValueOrDefault("PENDING") != size)
            {
                throw new InvalidOperationException($"expected {size} PENDING, the dashboard says {counts.GetValueOrDefault("PENDING")}");
            }

            // Let the scheduler's passes triggered by the submits settle, then see what the server burns while idle.
            await Task.Delay(TimeSpan.FromSeconds(1));
            var idleCpu = server.CpuSeconds();
            await Task.Delay(TimeSpan.FromSeconds(2));
            var idleCpuMsPerSecond = (server.CpuSeconds() - idleCpu) * 1000 / 2;

            var (load, plan) = await TimePassAsync(server.DatabasePath, size);
            var serverPass = await ServerPassAsync(client, server.WorkDirectory, probes);

            var random = new Random(size);
            var getTimes = new List<double>(gets);
            for (var i = 0; i < gets; i++)
            {
                var id = ids[random.Next(ids.Length)];
                var t = Stopwatch.GetTimestamp();
                await client.GetBytesAsync($"api/v1/jobs/{id}");
                getTimes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }

            var listTimes = new List<double>();
            for (var i = 0; i < 20; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await client.GetBytesAsync("api/v1/jobs?limit=100");
                listTimes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }

            var (rss, peak) = server.Memory();
            return new Row(
                size / submitSeconds, serverCpu * 1000 / size, serverPass,
                Stats.Median(load), Stats.Median(plan),
                Stats.Median(getTimes), Stats.Percentile(getTimes, 99), Stats.Median(listTimes), rss, peak, idleCpuMsPerSecond);
        }
        finally
        {
            // The long jobs are cancelled; the pending ones go with the data directory.
            foreach (var id in fillers)
            {
                await client.CancelAsync(id);
            }

            foreach (var id in fillers)
            {
                await client.WaitForStateAsync(id, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(30), "CANCELLED");
            }
        }
    }

    /// <summary>
    /// The server's own pass time, from /metrics: the mean over <paramref name="probes"/> passes, each woken by one more
    /// pending job (a pass that reads one change, plans the whole backlog and writes the new job's reason).
    /// </summary>
    private static async Task<double> ServerPassAsync(ConductorClient client, string workDir, int probes)
    {
        // Three passes first, unmeasured: they read whatever the backlog's arrival left to read.
        var before = await client.PassesAsync();
        var seen = before.Passes;
        for (var i = -3; i < probes; i++)
        {
            if (i == 0)
            {
                before = await client.PassesAsync();
            }

            await client.SubmitAsync(Waiting, workDir, "probe");
            var deadline = Stopwatch.StartNew();
            while ((await client.PassesAsync()).Passes == seen)
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(20))
                {
                    throw new InvalidOperationException("no scheduling pass followed a submit within 20 s");
                }

                await Task.Delay(5);
            }

            seen = (await client.PassesAsync()).Passes;
        }

        var after = await client.PassesAsync();
        return (after.Seconds - before.Seconds) * 1000 / (after.Passes - before.Passes);
    }

    /// <summary>
    /// Adds <paramref name="count"/> nodes like the server's own, each full of running one-CPU jobs with a time limit,
    /// straight into the database: the scheduler sees them as any node (heartbeats far ahead keep them up), and no
    /// agent runs their jobs.
    /// </summary>
    private static async Task AddFullNodesAsync(string databasePath, int count)
    {
        await using var connection = await OpenAsync(databasePath);
        await using var tx = await connection.BeginTransactionAsync();
        await using var command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction)tx;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        command.CommandText = $"""
            INSERT INTO nodes (name, cpus, memory_mib, partitions, state, last_heartbeat, address, registered_time)
            SELECT 'bench-' || printf('%04d', n.i), b.cpus, b.memory_mib, b.partitions, b.state, 4102444800000, b.address, b.registered_time
            FROM nodes b, (WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {count}) SELECT i FROM k) n
            WHERE b.name = 'bench';

            CREATE TEMP TABLE bench_cores AS
            SELECT n.name AS node, c.i AS core, j.partition AS partition
            FROM nodes n, (WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 4095) SELECT i FROM k) c,
                 (SELECT partition FROM jobs ORDER BY id LIMIT 1) j
            WHERE n.name LIKE 'bench-%' AND c.i < n.cpus;

            INSERT INTO jobs (state, name, account, owner, partition, cpus_per_task, ntasks, ntasks_per_node, time_limit_seconds, work_dir,
                              stdout_pattern, environment, arguments, exclusive, requeue, max_retries, nice, hold, priority, submit_time,
                              start_time, attempt, node, cores)
            SELECT 'RUNNING', 'filler', 'bench', 'bench', partition, 1, 1, 1, 900, '/', 'slurm-%j.out', @empty, '[]', 0, 0, 0, 0, 0, 0, {now},
                   {now}, 1, node, CAST(core AS text)
            FROM bench_cores;

            INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time)
            SELECT id, node, cores, 1, 0, 0, 1, {now} FROM jobs WHERE node LIKE 'bench-%' AND state = 'RUNNING';
            """;
        command.Parameters.AddWithValue("empty", "{}");
        await command.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }

    /// <summary>Copies a submitted pending job (with its script) until <paramref name="size"/> are pending, straight into the database.</summary>
    private static async Task<long[]> InsertPendingAsync(string databasePath, long template, int size)
    {
        await using var connection = await OpenAsync(databasePath);
        var columns = new List<string>();
        await using (var info = connection.CreateCommand())
        {
            info.CommandText = "SELECT name FROM pragma_table_info('jobs') WHERE name <> 'id';";
            await using var reader = await info.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                columns.Add(reader.GetString(0));
            }
        }

        var list = string.Join(", ", columns);
        await using var tx = await connection.BeginTransactionAsync();
        await using var command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction)tx;
        command.CommandText = $"""
            INSERT INTO jobs ({list})
            SELECT {list} FROM jobs, (WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {size - 1}) SELECT i FROM k)
            WHERE id = {template};
            INSERT INTO job_scripts (job_id, script) SELECT j.id, s.script FROM jobs j, job_scripts s WHERE s.job_id = {template} AND j.id > {template};
            """;
        await command.ExecuteNonQueryAsync();
        await tx.CommitAsync();
        return [.. Enumerable.Range(0, size).Select(i => template + i)];
    }

    private static async Task<SqliteConnection> OpenAsync(string databasePath)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA busy_timeout = 10000;";
        await pragma.ExecuteNonQueryAsync();
        return connection;
    }

    /// <summary>Times the scheduler's snapshot load and plan, as one pass does them, on the live database.</summary>
    private static async Task<(List<double> Load, List<double> Plan)> TimePassAsync(string databasePath, int size)
    {
        using var store = new SqliteStore(new SqliteStoreOptions { DatabasePath = databasePath });
        var policy = new BackfillPolicy();
        var load = new List<double>();
        var plan = new List<double>();
        for (var i = -1; i < 5; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var snapshot = await store.LoadSnapshotAsync(CancellationToken.None);
            var loaded = Stopwatch.GetElapsedTime(t);
            var result = policy.Plan(snapshot, DateTimeOffset.UtcNow);
            var planned = Stopwatch.GetElapsedTime(t) - loaded;
            if (snapshot.Pending.Count != size || result.Starts.Count != 0)
            {
                throw new InvalidOperationException(
                    $"the snapshot has {snapshot.Pending.Count} pending and the plan starts {result.Starts.Count}; expected {size} and 0");
            }

            if (i >= 0)
            {
                load.Add(loaded.TotalMilliseconds);
                plan.Add(planned.TotalMilliseconds);
            }
        }

        return (load, plan);
    }
}
