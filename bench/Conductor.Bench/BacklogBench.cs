using System.Diagnostics;
using Conductor.Core.Scheduling;
using Conductor.Storage.Sqlite;

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
        options.ThrowOnUnknown();
        Console.WriteLine($"# backlog: sizes {string.Join(", ", sizes)}; a node of {cpus} CPUs full of 'sleep 600'; {submitters} HTTP submitters; {gets} GETs");

        var table = new Table(
            "pending", "submit/s", "srv ms/submit", "pass ms", "load ms", "plan ms", "GET p50", "GET p99", "list ms", "RSS MiB", "peak MiB", "idle ms/s");
        var result = new ResultLine().Add("bench", "backlog");
        foreach (var size in sizes)
        {
            var row = await RunSizeAsync(cli, cpus, size, submitters, gets);
            table.Add(
                Stats.I(size), Stats.F(row.SubmitRate, 0), Stats.F(row.ServerCpuMsPerSubmit, 3),
                Stats.F(row.PassMs), Stats.F(row.LoadMs), Stats.F(row.PlanMs),
                Stats.F(row.GetP50Ms), Stats.F(row.GetP99Ms), Stats.F(row.ListMs), Stats.F(row.RssMiB, 0), Stats.F(row.PeakMiB, 0),
                Stats.F(row.IdleCpuMsPerSecond, 0));
            result.Add($"submit_per_s_{size}", row.SubmitRate, 0)
                .Add($"pass_ms_{size}", row.PassMs)
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
            pass = load + plan: the scheduler's snapshot load (SqliteStore.LoadSnapshotAsync) and BackfillPolicy.Plan,
            median of 5, run in the benchmark process against the live server's database file (no commit: with
            the node full, a steady-state pass has nothing to write). GET: /api/v1/jobs/{id} on random pending ids, ms.
            list: first page of /api/v1/jobs?limit=100, median of 20, ms. RSS/peak: VmRSS/VmHWM of the server.
            idle ms/s: server CPU per second over 2 s with nothing asked of it, after the submits settled.
            """);
        Console.WriteLine(result);
        return 0;
    }

    private sealed record Row(
        double SubmitRate, double ServerCpuMsPerSubmit, double PassMs, double LoadMs, double PlanMs,
        double GetP50Ms, double GetP99Ms, double ListMs, double RssMiB, double PeakMiB, double IdleCpuMsPerSecond);

    private static async Task<Row> RunSizeAsync(string cli, int cpus, int size, int submitters, int gets)
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
            var cpuBefore = server.CpuSeconds();
            var passesBefore = await client.PassesAsync();
            var watch = Stopwatch.StartNew();
            var ids = await ThroughputBench.SubmitAllAsync(client, server.WorkDirectory, size, submitters, Waiting);
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
                size / submitSeconds, serverCpu * 1000 / size, Stats.Median(load.Zip(plan, (a, b) => a + b).ToList()),
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
