using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>GPUs and backfill through the real server and the real CLI, as the issue's acceptance stories tell them.</summary>
public sealed class SchedulingTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private static async Task<JsonNode> JobAsync(HttpClient client, string id) =>
        JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!;

    private static string State(JsonNode job) => job["state"]!.GetValue<string>();

    private static DateTimeOffset? Time(JsonNode job, string name) =>
        job["time"]![name] is { } t ? t.GetValue<DateTimeOffset>() : null;

    private static Task<JsonNode> WaitForAsync(HttpClient client, string id, Func<JsonNode, bool> done, string what) =>
        Poll.UntilAsync(() => JobAsync(client, id), done, Soon, $"job {id} {what}");

    private static async Task<string> SubmitAsync(Cli cli, params string[] args)
    {
        var result = await cli.RunAsync(["submit", "--parsable", .. args]);
        Assert.True(result.Code == 0, result.ToString());
        return result.Stdout.Trim();
    }

    [Fact]
    public async Task Gpus_TwoJobsRunOnDevicesZeroAndOne_AndTheThirdWaitsForResources()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "4", "--gres", "gpu:2");
        using var client = server.CreateClient();
        var cli = new Cli(server, server.WorkDirectory);

        // Each job holds its GPU until the test has looked (a file says so; a minute at most), however slow the machine.
        var release = Path.Combine(server.WorkDirectory, "release");
        var ids = (await Task.WhenAll(Enumerable.Range(0, 3).Select(_ =>
            SubmitAsync(cli, "--gres", "gpu:1", "--wrap", $"echo $CUDA_VISIBLE_DEVICES; for i in $(seq 600); do [ -e {release} ] && break; sleep 0.1; done")))).OrderBy(long.Parse).ToList();

        // Two start, one waits; which one waits depends on the order the concurrent submissions reached the server.
        var states = await Poll.UntilAsync(() => Task.WhenAll(ids.Select(id => JobAsync(client, id))),
            jobs => jobs.Count(j => State(j) == "RUNNING") == 2 && jobs.Count(j => j["reason"]?.GetValue<string>() == "Resources") == 1,
            Soon, "two jobs to run and the third to wait for Resources");
        var waiting = ids[Array.FindIndex(states, j => State(j) == "PENDING")];
        ids = [.. ids.Where(id => id != waiting), waiting];

        // While both GPUs are busy: the node API and the metrics count them.
        var node = await Poll.UntilAsync(async () => JsonNode.Parse(await client.GetStringAsync("/api/v1/nodes"))!.AsArray()[0]!,
            n => n["gpus_allocated"]!.GetValue<int>() == 2, Soon, "the node to show both GPUs in use");
        Assert.Equal(("gpu:2", 2), (node["gres"]!.GetValue<string>(), node["gpus"]!.GetValue<int>()));
        await Poll.UntilAsync(() => client.GetStringAsync("/metrics"),
            m => m.Contains("conductor_node_gres_allocated{node=\"e2e-node\",name=\"gpu\"} 2", StringComparison.Ordinal), Soon, "the metrics to count both GPUs");
        var table = await cli.RunAsync("nodes");
        Assert.Contains("GPUS(A/T)", table.Stdout, StringComparison.Ordinal);

        // The charts' minute under way counts them too.
        var charts = JsonNode.Parse(await client.GetStringAsync("/api/v1/charts"))!;
        Assert.Equal(2, charts["gpus_total"]!.AsArray()[^1]!.GetValue<double>());
        Assert.Equal(2, charts["gpus_allocated"]!.AsArray()[^1]!.GetValue<double>());
        Assert.Contains("gpu:2", table.Stdout, StringComparison.Ordinal);
        Assert.Equal("PENDING", State(await JobAsync(client, ids[2])));
        await File.WriteAllTextAsync(release, "");

        var ended = new List<JsonNode>();
        foreach (var id in ids)
        {
            ended.Add(await WaitForAsync(client, id, j => State(j) is "COMPLETED" or "FAILED", "to end"));
        }

        Assert.All(ended, j => Assert.Equal("COMPLETED", State(j)));
        Assert.Equal(["0", "1"], ended.Take(2).Select(j => j["detail"]!["gpus"]!.GetValue<string>()).Order());
        Assert.True(Time(ended[0], "start") < Time(ended[1], "end") && Time(ended[1], "start") < Time(ended[0], "end"),
            "the first two jobs did not run at once");
        var outputs = ids.Select(id => File.ReadAllText(Path.Combine(server.WorkDirectory, $"slurm-{id}.out")).Trim()).ToList();
        Assert.Equal(["0", "1"], outputs.Take(2).Order());
        Assert.Contains(outputs[2], new[] { "0", "1" });
        Assert.True(Time(ended[2], "start") >= new[] { Time(ended[0], "end"), Time(ended[1], "end") }.Min(),
            "the third job started before either GPU was free");
    }

    [Fact]
    public async Task Gpus_AJobCannotOpenTheDeviceFilesOfTheGpusItWasNotGiven()
    {
        Assert.True(UnixUsers.IsRoot, "device cgroups are set up by a root agent, and the suite runs as root");

        // Two harmless character devices stand in for the GPUs' files: /dev/zero is GPU 0, /dev/full GPU 1.
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--gres", "gpu:2", "--gpu-files", "/dev/zero,/dev/full");
        using var client = server.CreateClient();
        var cli = new Cli(server, server.WorkDirectory);
        const string probe = "for f in /dev/zero /dev/full; do if head -c1 $f >/dev/null 2>&1; then echo $f:open; else echo $f:denied; fi; done; echo gpus=$CUDA_VISIBLE_DEVICES";

        var withGpu = await SubmitAsync(cli, "--gres", "gpu:1", "--wrap", probe);
        var ended = await WaitForAsync(client, withGpu, j => State(j) is "COMPLETED" or "FAILED", "to end");
        Assert.Equal("COMPLETED", State(ended));
        var gpu = ended["detail"]!["gpus"]!.GetValue<string>();
        var (own, other) = gpu == "0" ? ("/dev/zero", "/dev/full") : ("/dev/full", "/dev/zero");
        Assert.Equal($"{own}:open {other}:denied gpus={gpu}",
            File.ReadAllText(Path.Combine(server.WorkDirectory, $"slurm-{withGpu}.out")).ReplaceLineEndings(" ").Trim());

        var withoutGpu = await SubmitAsync(cli, "--wrap", probe);
        Assert.Equal("COMPLETED", State(await WaitForAsync(client, withoutGpu, j => State(j) is "COMPLETED" or "FAILED", "to end")));
        Assert.Equal("/dev/zero:denied /dev/full:denied gpus=",
            File.ReadAllText(Path.Combine(server.WorkDirectory, $"slurm-{withoutGpu}.out")).ReplaceLineEndings(" ").Trim());
    }

    [Fact]
    public async Task Gpus_ThroughSlurmsCommands_SbatchGpusPerNode_AndSrunStepsTakeAShareOfTheJobsGpus()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--gres", "gpu:3");
        var sh = await Slurm.SlurmShell.CreateAsync(server, server.WorkDirectory);
        await File.WriteAllTextAsync(Path.Combine(sh.WorkDir, "gpus.sh"), """
            #!/bin/bash
            #SBATCH --gpus-per-node=2 --cpus-per-task=2 --output=gpus-%j.out
            echo "job=$SLURM_JOB_GPUS"
            srun --gpus=1 bash -c 'echo "one=$CUDA_VISIBLE_DEVICES"'
            srun -n2 --gpus-per-task=1 bash -c 'echo "per-task=$CUDA_VISIBLE_DEVICES"' | sort -u
            srun bash -c 'echo "all=$CUDA_VISIBLE_DEVICES"'
            srun --gres=gpu:3 true
            echo "too many=$?"
            """);

        var submit = await sh.RunAsync("sbatch --wait gpus.sh");
        Assert.True(submit.Code == 0, submit.ToString());
        var id = submit.Stdout.Trim().Split(' ')[^1];
        var lines = (await File.ReadAllTextAsync(Path.Combine(sh.WorkDir, $"gpus-{id}.out"))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var gpus = lines[0]["job=".Length..];
        Assert.Equal(2, gpus.Split(',').Length);
        Assert.Equal(
            [$"job={gpus}", $"one={gpus.Split(',')[0]}", $"per-task={gpus.Split(',')[0]}", $"per-task={gpus.Split(',')[1]}", $"all={gpus}",
                $"srun: error: Unable to create step for job {id}: Invalid generic resource (gres) specification", "too many=1"],
            lines);

        // Outside a job, srun asks for GPUs as sbatch does.
        Assert.Equal("0,1,2\n", await sh.OutputAsync("srun --gres=gpu:3 bash -c 'echo $CUDA_VISIBLE_DEVICES'"));
    }

    [Fact]
    public async Task Gpus_AJobAskingMoreThanAnyNodeHas_IsRefusedAtSubmit()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--gres", "gpu:2");
        var cli = new Cli(server, server.WorkDirectory);

        var result = await cli.RunAsync("submit", "--gpus", "3", "--wrap", "true");

        Assert.Equal(1, result.Code);
        Assert.Contains("gpu:3", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("gpu:2", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backfill_ReservesForAnArraysNextUnstartedTask_SoALongJobDoesNotStartBeforeIt()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2");
        using var client = server.CreateClient();
        var cli = new Cli(server, server.WorkDirectory);

        var r = await SubmitAsync(cli, "-J", "R", "-c", "1", "-t", "1:00", "--wrap", "sleep 30");
        await WaitForAsync(client, r, j => State(j) == "RUNNING", "to run");

        // The array's tasks need both CPUs: none can start now, yet its first task waits in the pass with a reservation.
        var array = await SubmitAsync(cli, "-J", "A", "-c", "2", "-t", "1:00", "--array", "1-1000", "--wrap", "true");
        var first = await WaitForAsync(client, $"{array}_1", j => j["reason"]?.GetValue<string>() == "Resources" && Time(j, "expected_start") is not null,
            "to wait for Resources with an expected start");
        Assert.Equal("PENDING", State(first));

        var l = await SubmitAsync(cli, "-J", "L", "-c", "1", "-t", "10:00", "--wrap", "true");
        await WaitForAsync(client, l, j => j["reason"]?.GetValue<string>() == "Priority", "to wait behind the array");
        Assert.Equal("PENDING", State(await WaitForAsync(client, $"{array}_1", j => true, "to be read")));
        Assert.Equal(0, (await cli.RunAsync("cancel", r, array, l)).Code);
    }

    [Fact]
    public async Task Backfill_StartsAShortJobAtOnce_ButNotALongOneBeforeTheWideJob()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2");
        using var client = server.CreateClient();
        var cli = new Cli(server, server.WorkDirectory);

        var r = await SubmitAsync(cli, "-J", "R", "-c", "1", "-t", "1:00", "--wrap", "sleep 8");
        await WaitForAsync(client, r, j => State(j) == "RUNNING", "to run");

        var w = await SubmitAsync(cli, "-J", "W", "-c", "2", "-t", "1:00", "--wrap", "true");
        var waiting = await WaitForAsync(client, w, j => j["reason"]?.GetValue<string>() == "Resources" && Time(j, "expected_start") is not null,
            "to wait for Resources with an expected start");
        Assert.Equal("PENDING", State(waiting));

        var s = await SubmitAsync(cli, "-J", "S", "-c", "1", "-t", "0:20", "--wrap", "sleep 1");
        var shortJob = await WaitForAsync(client, s, j => State(j) is "RUNNING" or "COMPLETED", "to start by backfill");

        var l = await SubmitAsync(cli, "-J", "L", "-c", "1", "-t", "10:00", "--wrap", "true");
        await WaitForAsync(client, l, j => j["reason"]?.GetValue<string>() == "Priority", "to wait behind W");

        var show = await cli.RunAsync("show", w);
        Assert.Contains("(expected)", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("PriorityFactors", show.Stdout, StringComparison.Ordinal);
        var queue = await cli.RunAsync("queue", "--sort", "priority", "--start");
        Assert.Contains("PRIORITY", queue.Stdout, StringComparison.Ordinal);
        Assert.Contains("START_TIME", queue.Stdout, StringComparison.Ordinal);

        var wide = await WaitForAsync(client, w, j => State(j) == "COMPLETED", "to complete");
        var late = await WaitForAsync(client, l, j => State(j) == "COMPLETED", "to complete");
        var running = await WaitForAsync(client, r, j => State(j) == "COMPLETED", "to complete");
        Assert.True(Time(shortJob, "start") < Time(running, "end"), "S did not start while R ran");
        Assert.True(Time(late, "start") >= Time(wide, "start"), "L started before W");
        Assert.True(Time(wide, "start") >= Time(running, "end"), "W started before R ended");
    }

    [Fact]
    public async Task Partitions_ApplyTheirDefaultAndMaximumTime_TheirAccounts_AndExclusiveNodes()
    {
        await using var server = await ServerProcess.StartAsync(
            "--cpus", "2", "--partition-limits", "default DefaultTime=2 MaxTime=5 AllowAccounts=physics,chemistry PriorityTier=1 Exclusive=yes");
        using var client = server.CreateClient();
        var cli = new Cli(server, server.WorkDirectory);

        var id = await SubmitAsync(cli, "-A", "physics", "--hold", "--wrap", "true");
        var job = await JobAsync(client, id);
        Assert.Equal(120, job["time"]!["limit_seconds"]!.GetValue<double>());
        Assert.True(job["detail"]!["exclusive"]!.GetValue<bool>());

        var tooLong = await cli.RunAsync("submit", "-A", "physics", "-t", "10", "--wrap", "true");
        Assert.Equal(1, tooLong.Code);
        Assert.Contains("maximum", tooLong.Stderr, StringComparison.Ordinal);

        var stranger = await cli.RunAsync("submit", "-A", "biology", "--wrap", "true");
        Assert.Equal(1, stranger.Code);
        Assert.Contains("may not use partition 'default'", stranger.Stderr, StringComparison.Ordinal);
    }
}
