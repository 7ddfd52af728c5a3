using System.Diagnostics;
using System.Text.Json;

namespace Conductor.Bench;

/// <summary>
/// On an idle server, one job at a time: submit → the script's first line (it writes $EPOCHREALTIME) and
/// submit → COMPLETED (the job's end time from the API), beside the bare cost of spawning the same script.
/// </summary>
internal static class LatencyBench
{
    public static async Task<int> RunAsync(string cli, Options options)
    {
        var samples = options.Int("jobs", 100);
        var cpus = options.Int("cpus", Environment.ProcessorCount);
        options.ThrowOnUnknown();
        Console.WriteLine($"# latency: {samples} jobs one at a time on an idle server with {cpus} CPUs, and {samples} bare spawns");

        await using var server = await BenchServer.StartAsync(cli, cpus);
        using var client = new ConductorClient(server);
        var marks = Directory.CreateDirectory(Path.Combine(server.WorkDirectory, "marks")).FullName;
        var script = $"#!/bin/bash\necho $EPOCHREALTIME > {marks}/$SLURM_JOB_ID\n";

        // Bare spawn: the same script file, started directly, with the same variable it names its mark by.
        var scriptPath = Machine.WriteScript(server.WorkDirectory, "latency.sh", script);
        var bareStart = new List<double>();
        var bareExit = new List<double>();
        for (var i = -5; i < samples; i++)
        {
            var psi = new ProcessStartInfo(scriptPath) { UseShellExecute = false };
            psi.Environment["SLURM_JOB_ID"] = $"bare{i}";
            var t0 = Machine.NowMicros();
            using var process = Process.Start(psi)!;
            await process.WaitForExitAsync();
            var t1 = Machine.NowMicros();
            if (i >= 0)
            {
                bareStart.Add((Machine.ReadEpochMicros(Path.Combine(marks, $"bare{i}")) - t0) / 1000);
                bareExit.Add((t1 - t0) / 1000);
            }
        }

        var toStart = new List<double>();
        var toScheduled = new List<double>();
        var toEnd = new List<double>();
        var toSeen = new List<double>();
        for (var i = -5; i < samples; i++)
        {
            var t0 = Machine.NowMicros();
            var id = await client.SubmitAsync(script, server.WorkDirectory);

            // Wait for the mark on the file system first (costs the server nothing), then poll the API.
            var mark = Path.Combine(marks, id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var waited = Stopwatch.StartNew();
            while (!File.Exists(mark) && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(1);
            }

            var job = await client.WaitForStateAsync(id, TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(30), "COMPLETED", "FAILED");
            var seen = Machine.NowMicros();
            if (job.GetProperty("state").GetString() != "COMPLETED")
            {
                throw new InvalidOperationException($"job {id} ended {job}");
            }

            if (i < 0)
            {
                continue; // warm-up
            }

            var times = job.GetProperty("time");
            toStart.Add((Machine.ReadEpochMicros(mark) - t0) / 1000);
            toScheduled.Add((Micros(times, "start") - t0) / 1000);
            toEnd.Add((Micros(times, "end") - t0) / 1000);
            toSeen.Add((seen - t0) / 1000);
        }

        var table = new Table("measure (ms)", "p50", "p95", "max");
        void Row(string name, List<double> v) =>
            table.Add(name, Stats.F(Stats.Median(v)), Stats.F(Stats.Percentile(v, 95)), Stats.F(v.Max()));
        Row("bare spawn -> first line", bareStart);
        Row("bare spawn -> exit", bareExit);
        Row("submit -> scheduled (API start time)", toScheduled);
        Row("submit -> first line", toStart);
        Row("submit -> COMPLETED (API end time)", toEnd);
        Row("submit -> COMPLETED seen by polling", toSeen);
        Console.WriteLine();
        Console.Write(table);
        var over = Stats.Median(toStart) - Stats.Median(bareStart);
        Console.WriteLine();
        Console.WriteLine($"p50 submit -> first line is {over:F2} ms above the bare spawn (target <= 10 ms)");
        Console.WriteLine(new ResultLine()
            .Add("bench", "latency")
            .Add("jobs", samples)
            .Add("bare_start_p50_ms", Stats.Median(bareStart))
            .Add("bare_start_p95_ms", Stats.Percentile(bareStart, 95))
            .Add("start_p50_ms", Stats.Median(toStart))
            .Add("start_p95_ms", Stats.Percentile(toStart, 95))
            .Add("completed_p50_ms", Stats.Median(toEnd))
            .Add("completed_p95_ms", Stats.Percentile(toEnd, 95))
            .Add("start_over_bare_p50_ms", over));
        return 0;
    }

    private static double Micros(JsonElement times, string name) =>
        (times.GetProperty(name).GetDateTimeOffset() - DateTimeOffset.UnixEpoch).Ticks / 10.0;
}
