using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>kill -9 of the server at any moment loses nothing and runs nothing twice; a restart adopts live jobs.</summary>
public sealed class CrashSafetyTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private static async Task<string> SubmitAsync(HttpClient client, string workDir, string script, object? extra = null)
    {
        var job = System.Text.Json.JsonSerializer.SerializeToNode(extra ?? new { })!.AsObject();
        job["current_working_directory"] = workDir;
        var response = await client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = job, ["script"] = script });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!["job_id"]!.GetValue<string>();
    }

    private static async Task<JsonNode> JobAsync(HttpClient client, string id) =>
        JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}?logs=true"))!;

    private static Task<JsonNode> WaitForAsync(HttpClient client, string id, TimeSpan timeout, params string[] states) =>
        Poll.UntilAsync(() => JobAsync(client, id), j => states.Contains(j["state"]!.GetValue<string>()), timeout,
            $"job {id} to be {string.Join(" or ", states)}");

    private static Task WaitForLaunchAsync(HttpClient client, string id) =>
        Poll.UntilAsync(() => JobAsync(client, id), j => j["detail"]!["stdout_path"] is not null, Soon, $"job {id} to be launched");

    [Fact]
    public async Task Kill9_ThenRestart_AdoptsARunningJob_AndCollectsItsRealExit()
    {
        var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "adopt");
        Directory.CreateDirectory(work);
        using (var client = server.CreateClient())
        {
            var id = await SubmitAsync(client, work, "#!/bin/bash\nsleep 4; echo done\n");
            await WaitForLaunchAsync(client, id);
            await server.KillAsync();

            await using var restarted = await server.RestartAsync();
            using var again = restarted.CreateClient();
            var job = await WaitForAsync(again, id, Soon, "COMPLETED", "FAILED");

            Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
            Assert.Equal("0:0", job["exit_code"]!.GetValue<string>());
            Assert.Equal("done\n", job["log"]!["stdout"]!.GetValue<string>());
            var events = JsonNode.Parse(await again.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray();
            Assert.Contains(events, e => e!["kind"]!.GetValue<string>() == "recovered");
            var node = JsonNode.Parse(await again.GetStringAsync("/api/v1/nodes"))!.AsArray()[0]!;
            Assert.Equal(1, node["recovery"]!["recovered"]!.GetValue<int>());
        }
    }

    [Fact]
    public async Task Kill9_WhileAnArrayRuns_ThenRestart_RunsEveryTaskOnce()
    {
        var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "array");
        Directory.CreateDirectory(work);
        using (var client = server.CreateClient())
        {
            var array = await SubmitAsync(client, work, "#!/bin/bash\necho $SLURM_ARRAY_TASK_ID >> ran.txt; sleep 1\n",
                new { array = "1-6%2", standard_output = "t-%a.out" });
            await WaitForLaunchAsync(client, $"{array}_1");
            await server.KillAsync();

            await using var restarted = await server.RestartAsync();
            using var again = restarted.CreateClient();
            await Poll.UntilAsync(
                async () => JsonNode.Parse(await again.GetStringAsync($"/api/v1/jobs/{array}"))!["array_tasks"]!.AsObject(),
                tasks => tasks.Sum(kv => kv.Key is "PENDING" or "RUNNING" ? kv.Value!.GetValue<long>() : 0) == 0,
                TimeSpan.FromSeconds(60),
                "every task to end");

            var counts = JsonNode.Parse(await again.GetStringAsync($"/api/v1/jobs/{array}"))!["array_tasks"]!;
            Assert.Equal(6, counts["COMPLETED"]!.GetValue<long>());
            var ran = (await File.ReadAllLinesAsync(Path.Combine(work, "ran.txt"))).Order().ToList();
            Assert.Equal(["1", "2", "3", "4", "5", "6"], ran);
        }
    }

    [Theory]
    [InlineData(false, "FAILED")]
    [InlineData(true, "PENDING")]
    public async Task JobKilledWhileTheServerIsDown_EndsFailedWithAReason_OrIsRequeued(bool requeue, string expected)
    {
        var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "orphan");
        Directory.CreateDirectory(work);
        using var client = server.CreateClient();
        var script = requeue ? "#!/bin/bash\necho \"$$ $PPID\" > pids-$SLURM_RESTART_COUNT\nsleep 300\n" : "#!/bin/bash\necho \"$$ $PPID\" > pids-0\nsleep 300\n";
        var id = await SubmitAsync(client, work, script, new { requeue, hold = false });
        await WaitForLaunchAsync(client, id);
        await Poll.UntilAsync(() => File.Exists(Path.Combine(work, "pids-0")) && File.ReadAllText(Path.Combine(work, "pids-0")).Contains(' ', StringComparison.Ordinal), Soon, "the pids");
        await server.KillAsync();

        // The node "reboots": all of the job's processes die at once while no agent watches (the whole process
        // group, which the wrapper leads: $PPID of the script), so nothing is left to record a status.
        var pids = File.ReadAllText(Path.Combine(work, "pids-0")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        Signals.Kill(-pids[1], 9);

        await Poll.UntilAsync(() => pids.All(p => !Processes.IsAlive(p)), Soon, "the job's processes to die");
        await using var restarted = await server.RestartAsync();
        using var again = restarted.CreateClient();
        var started = DateTime.UtcNow;
        var job = await Poll.UntilAsync(
            () => JobAsync(again, id),
            j => j["state"]!.GetValue<string>() == expected || (requeue && j["attempt"]!.GetValue<int>() == 2),
            Soon, $"job {id} to be recovered");
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "recovered within seconds of the restart");

        var events = JsonNode.Parse(await again.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray();
        if (requeue)
        {
            Assert.Contains(events, e => e!["kind"]!.GetValue<string>() == "requeued");
            await again.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        }
        else
        {
            Assert.Equal("FAILED", job["state"]!.GetValue<string>());
            Assert.Contains("gone", job["error_msg"]!.GetValue<string>(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Sigterm_LeavesRunningJobsRunning_AndTheNextStartAdoptsThem()
    {
        var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "term");
        Directory.CreateDirectory(work);
        using var client = server.CreateClient();
        var id = await SubmitAsync(client, work, "#!/bin/bash\necho $$ > pid\nsleep 3\necho finished\n");
        await WaitForLaunchAsync(client, id);
        await Poll.UntilAsync(() => File.Exists(Path.Combine(work, "pid")) && File.ReadAllText(Path.Combine(work, "pid")).Length > 0, Soon, "the pid");
        var pid = int.Parse(File.ReadAllText(Path.Combine(work, "pid")).Trim(), CultureInfo.InvariantCulture);

        Assert.Equal(0, await server.StopAsync(TimeSpan.FromSeconds(30)));
        Assert.True(Processes.IsAlive(pid), "the job keeps running while the server is stopped");

        await using var restarted = await server.RestartAsync();
        using var again = restarted.CreateClient();
        var job = await WaitForAsync(again, id, Soon, "COMPLETED", "FAILED");
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.Equal("finished\n", job["log"]!["stdout"]!.GetValue<string>());
    }

    [Fact]
    public async Task Drain_WaitsForRunningJobsBeforeTheServerExits()
    {
        var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-wait", "2s", "--drain");
        var work = Path.Combine(server.WorkDirectory, "drain");
        Directory.CreateDirectory(work);
        using var client = server.CreateClient();
        var id = await SubmitAsync(client, work, "#!/bin/bash\nsleep 2\necho drained\n");
        await WaitForLaunchAsync(client, id);

        Assert.Equal(0, await server.StopAsync(TimeSpan.FromSeconds(60)));

        await using var restarted = await server.RestartAsync();
        using var again = restarted.CreateClient();
        var job = await JobAsync(again, id);
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.DoesNotContain(JsonNode.Parse(await again.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray(),
            e => e!["kind"]!.GetValue<string>() == "recovered");
    }

    /// <summary>
    /// 200 short jobs (each appends its id to a marker file) and a few long ones; kill -9 of the server at random
    /// moments, three times, restarting each time. Every job ends, each short job ran exactly once, no CPU stays
    /// allocated and no process of any job is left.
    /// </summary>
    [Fact]
    public async Task RandomKills_LoseNothing_AndRunNothingTwice()
    {
        var seed = Environment.GetEnvironmentVariable("CONDUCTOR_CRASH_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        var random = new Random(seed);
        var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-wait", "1s");
        var work = Path.Combine(server.WorkDirectory, "crash");
        Directory.CreateDirectory(work);
        var marker = Path.Combine(work, "marker");
        var shortIds = new List<string>();
        var longIds = new List<string>();
        using (var client = server.CreateClient())
        {
            for (var i = 0; i < 3; i++)
            {
                longIds.Add(await SubmitAsync(client, work, "#!/bin/bash\nsleep 3\n", new { name = "long" }));
            }

            for (var i = 0; i < 200; i++)
            {
                shortIds.Add(await SubmitAsync(client, work, "#!/bin/bash\necho $SLURM_JOB_ID >> marker\n", new { name = "short", standard_output = "/dev/null" }));
            }
        }

        for (var crash = 0; crash < 3; crash++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(100, 1500)));
            await server.KillAsync();
            server = await server.RestartAsync();
        }

        await using (server)
        {
            using var client = server.CreateClient();
            await Poll.UntilAsync(
                async () => JsonNode.Parse(await client.GetStringAsync("/api/v1/jobs?state=PENDING,RUNNING&limit=1000"))!["jobs"]!.AsArray().Count,
                n => n == 0, TimeSpan.FromSeconds(120), $"every job to end (seed {seed})");

            var ran = File.ReadAllLines(marker).Where(l => l.Length > 0).ToList();
            var twice = ran.GroupBy(x => x).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(twice.Count == 0, $"ran twice: {string.Join(", ", twice)} (seed {seed})");
            foreach (var id in shortIds)
            {
                var job = await JobAsync(client, id);
                Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
                Assert.Contains(id, ran);
            }

            foreach (var id in longIds)
            {
                Assert.Equal("COMPLETED", (await JobAsync(client, id))["state"]!.GetValue<string>());
            }

            Assert.Equal(200, ran.Count);
            var dashboard = JsonNode.Parse(await client.GetStringAsync("/api/v1/dashboard"))!;
            Assert.Equal(0, dashboard["cpus"]!["allocated"]!.GetValue<int>());
            await Poll.UntilAsync(() => !Processes.JobWrappersUnder(server.DataDirectory).Any(), TimeSpan.FromSeconds(10), "no job process to be left");
        }
    }
}
