using System.Diagnostics;
using System.Globalization;

namespace Conductor.Bench;

/// <summary>
/// N trivial jobs end to end through a real server (submit over HTTP until all are COMPLETED), beside the
/// same script run N times by <c>xargs -P C</c>, in the same run. The direct run goes before and after the
/// server run and the two are averaged, so that a drift in machine load hits both sides alike. With <c>--array</c>
/// the N jobs are the tasks of one array, submitted in one request.
/// </summary>
internal static class ThroughputBench
{
    private const string Script = "#!/bin/bash\ntrue\n";
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public static async Task<int> RunAsync(string cli, Options options)
    {
        var jobs = options.Int("jobs", 1000);
        var cpus = options.Int("cpus", Environment.ProcessorCount);
        var submitters = options.Int("submitters", 4);
        var asArray = options.Flag("array");
        options.ThrowOnUnknown();
        Console.WriteLine(asArray
            ? $"# throughput: one array of {jobs} tasks of '#!/bin/bash; true', {cpus} CPUs, one HTTP request"
            : $"# throughput: {jobs} jobs of '#!/bin/bash; true', {cpus} CPUs, {submitters} HTTP submitters");

        var scratch = Directory.CreateTempSubdirectory("conductor-bench-direct-").FullName;
        try
        {
            var scriptPath = Machine.WriteScript(scratch, "job.sh", Script);
            var direct1 = await DirectAsync(scriptPath, jobs, cpus);

            await using var server = await BenchServer.StartAsync(cli, cpus);
            using var client = new ConductorClient(server);

            // Warm-up: the server's first jobs pay for JIT and connection set-up; they are not counted.
            var warm = Math.Max(2 * cpus, 20);
            var warmIds = await SubmitAllAsync(client, server.WorkDirectory, warm, submitters);
            await WaitCompletedAsync(client, warmIds.Max(), warm, TimeSpan.FromSeconds(120));

            // The server's CPU when idle but for the same polling, for 2 s after the warm-up (background JIT tiering included).
            var idleCpu = server.CpuSeconds();
            var idle = Stopwatch.StartNew();
            while (idle.Elapsed < TimeSpan.FromSeconds(2))
            {
                await client.GetJobAsync(1);
                await Task.Delay(PollInterval);
            }

            var idleCpuPerSecond = (server.CpuSeconds() - idleCpu) / idle.Elapsed.TotalSeconds;

            var cpuBefore = server.CpuSeconds();
            var passesBefore = await client.PassesAsync();
            var t0 = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            // An array's tasks take ids from the array's on, and its last task to run keeps the array's own id.
            long[] ids = asArray
                ? [await client.SubmitAsync(Script, server.WorkDirectory, "bench", null, $"1-{jobs}")]
                : await SubmitAllAsync(client, server.WorkDirectory, jobs, submitters);
            var submitted = watch.Elapsed;
            await WaitCompletedAsync(client, ids.Max(), warm + jobs, TimeSpan.FromSeconds(60 + jobs));
            var serverCpu = server.CpuSeconds() - cpuBefore;
            var passesAfter = await client.PassesAsync();
            var passes = passesAfter.Passes - passesBefore.Passes;
            var passSeconds = passesAfter.Seconds - passesBefore.Seconds;

            // The end is the last job's end time as the server recorded it, so the polling interval adds nothing.
            var lastEnd = await LastEndAsync(client, ids.Min());
            var conductor = lastEnd - t0;

            var direct2 = await DirectAsync(scriptPath, jobs, cpus);
            var direct = (direct1 + direct2) / 2;

            var conductorRate = jobs / conductor.TotalSeconds;
            var directRate = jobs / direct.TotalSeconds;
            var ratio = conductorRate / directRate;

            var table = new Table("run", "jobs", "seconds", "jobs/s");
            table.Add($"xargs -P {cpus} (before)", Stats.I(jobs), Stats.F(direct1.TotalSeconds, 3), Stats.F(jobs / direct1.TotalSeconds, 1));
            table.Add($"xargs -P {cpus} (after)", Stats.I(jobs), Stats.F(direct2.TotalSeconds, 3), Stats.F(jobs / direct2.TotalSeconds, 1));
            table.Add("conductor, submit phase", Stats.I(jobs), Stats.F(submitted.TotalSeconds, 3), Stats.F(jobs / submitted.TotalSeconds, 1));
            table.Add("conductor, end to end", Stats.I(jobs), Stats.F(conductor.TotalSeconds, 3), Stats.F(conductorRate, 1));
            Console.WriteLine();
            Console.Write(table);
            Console.WriteLine();
            var idleCpuShare = idleCpuPerSecond * conductor.TotalSeconds;
            Console.WriteLine($"conductor / direct = {ratio * 100:F1}% (target >= 90%)");
            Console.WriteLine(
                $"server CPU {serverCpu:F2} s in {conductor.TotalSeconds:F2} s = {serverCpu * 1000 / jobs:F2} ms per job, " +
                $"of which an idle server with the same polling would have used about {idleCpuShare:F2} s ({idleCpuPerSecond * 1000:F0} ms per second)");
            Console.WriteLine(
                $"scheduling passes: {passes} ({(double)passes / jobs:F2} per job), {passSeconds:F2} s in all " +
                $"({passSeconds * 1000 / Math.Max(1, passes):F2} ms per pass, {passSeconds * 1000 / jobs:F2} ms per job)");
            Console.WriteLine(new ResultLine()
                .Add("bench", "throughput")
                .Add("mode", asArray ? "array" : "single")
                .Add("jobs", jobs)
                .Add("cpus", cpus)
                .Add("conductor_jobs_per_s", conductorRate, 1)
                .Add("direct_jobs_per_s", directRate, 1)
                .Add("ratio", ratio, 3)
                .Add("submit_jobs_per_s", jobs / submitted.TotalSeconds, 1)
                .Add("server_cpu_ms_per_job", serverCpu * 1000 / jobs, 3)
                .Add("idle_cpu_ms_per_s", idleCpuPerSecond * 1000, 1)
                .Add("passes_per_job", (double)passes / jobs, 2)
                .Add("pass_ms_per_job", passSeconds * 1000 / jobs, 3));
            return 0;
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    /// <summary>Runs the script N times, C at a time, with xargs; returns the wall time.</summary>
    private static async Task<TimeSpan> DirectAsync(string scriptPath, int jobs, int cpus)
    {
        var psi = new ProcessStartInfo("xargs")
        {
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // One dummy argument per line, one line per run: xargs execs the script itself (by its shebang), as the agent does.
        foreach (var arg in new[] { "-P", cpus.ToString(CultureInfo.InvariantCulture), "-n", "1", scriptPath })
        {
            psi.ArgumentList.Add(arg);
        }

        var input = string.Concat(Enumerable.Repeat("x\n", jobs));
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        var elapsed = watch.Elapsed;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"xargs exited with {process.ExitCode}");
        }

        return elapsed;
    }

    internal static async Task<long[]> SubmitAllAsync(ConductorClient client, string workDir, int count, int submitters, string script = Script)
    {
        var ids = new long[count];
        var next = -1;
        var workers = Enumerable.Range(0, Math.Max(1, submitters)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                ids[i] = await client.SubmitAsync(script, workDir);
            }
        });
        await Task.WhenAll(workers);
        return ids;
    }

    /// <summary>
    /// Waits until <paramref name="total"/> jobs are COMPLETED: cheap polls of the last job submitted until
    /// it ends, then of the dashboard's counts (which cost the server far more) until all have.
    /// </summary>
    private static async Task WaitCompletedAsync(ConductorClient client, long lastId, int total, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var state = (await client.GetJobAsync(lastId)).GetProperty("state").GetString();
            if (state is not ("PENDING" or "RUNNING"))
            {
                break;
            }

            await Task.Delay(PollInterval);
        }

        while (true)
        {
            var counts = await client.CountsAsync();
            var completed = counts.GetValueOrDefault("COMPLETED");
            if (completed >= total)
            {
                return;
            }

            var bad = counts.Where(c => c.Key is not ("COMPLETED" or "PENDING" or "RUNNING" or "TOTAL") && c.Value > 0).ToList();
            if (bad.Count > 0)
            {
                throw new InvalidOperationException($"jobs ended badly: {string.Join(", ", bad.Select(b => $"{b.Key}={b.Value}"))}");
            }

            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"only {completed} of {total} jobs COMPLETED after {timeout.TotalSeconds} s");
            }

            await Task.Delay(PollInterval);
        }
    }

    /// <summary>The latest end time among the jobs from <paramref name="firstId"/> on, read page by page.</summary>
    private static async Task<DateTimeOffset> LastEndAsync(ConductorClient client, long firstId)
    {
        var last = DateTimeOffset.MinValue;
        var after = (firstId - 1).ToString(CultureInfo.InvariantCulture);
        while (true)
        {
            var page = await client.GetJsonAsync($"api/v1/jobs?state=COMPLETED&limit=1000&after={after}");
            foreach (var job in page.GetProperty("jobs").EnumerateArray())
            {
                var end = job.GetProperty("time").GetProperty("end").GetDateTimeOffset();
                last = end > last ? end : last;
            }

            if (page.GetProperty("next_after").GetString() is not { } next)
            {
                return last;
            }

            after = next;
        }
    }
}
