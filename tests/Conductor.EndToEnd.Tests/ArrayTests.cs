using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Conductor.EndToEnd.Tests.Slurm;

namespace Conductor.EndToEnd.Tests;

/// <summary>A server of its own with eight CPUs, so that an array's '%4' limit, not the node, is what holds its tasks back.</summary>
public sealed class ArrayServerFixture : ServerFixture
{
    protected override string[] Arguments => ["--cpus", "8", "--memory", "4G", "--kill-wait", "2s"];

    /// <summary>Every row of an array (its tasks), read through the list API.</summary>
    public async Task<List<JsonNode>> TasksAsync(string array)
    {
        var page = JsonNode.Parse(await Client.GetStringAsync("/api/v1/jobs?limit=1000&order=desc"))!["jobs"]!.AsArray();
        return page.Where(j => j!["array_job_id"]?.GetValue<string>() == array).Select(j => j!).ToList();
    }
}

/// <summary>Job arrays end to end: the real server, the real CLI and Slurm's commands.</summary>
public sealed class ArrayTests(ArrayServerFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<ArrayServerFixture>
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    private Cli NewCli() => new(fixture.Server, fixture.NewWorkDir());

    [Fact]
    public async Task Submit_ArrayWithALimit_RunsEveryTaskWithItsOwnOutput_NeverMoreThanTheLimitAtOnce()
    {
        var cli = NewCli();
        var submit = await cli.RunAsync("submit", "--parsable", "--array", "1-20%4", "-o", "arr-%A_%a.out",
            "--wrap", "echo $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT $SLURM_ARRAY_TASK_MIN $SLURM_ARRAY_TASK_MAX; sleep 0.2");
        Assert.True(submit.Code == 0, submit.ToString());
        var array = submit.Stdout.Trim();

        var wait = await cli.RunAsync("wait", array);
        Assert.True(wait.Code == 0, wait.ToString());
        Assert.Contains("COMPLETED=20", wait.Stdout, StringComparison.Ordinal);

        for (var k = 1; k <= 20; k++)
        {
            Assert.Equal($"{k} 20 1 20\n", await File.ReadAllTextAsync(Path.Combine(cli.WorkDir, $"arr-{array}_{k}.out")));
        }

        Assert.Equal(20, Directory.GetFiles(cli.WorkDir, "arr-*.out").Length);

        // The limit, measured from the tasks' own start and end times: at an instant shared by an end and a start,
        // the end comes first.
        var tasks = await fixture.TasksAsync(array);
        Assert.Equal(Enumerable.Range(1, 20), tasks.Select(t => t["array_task_id"]!.GetValue<int>()).Order());
        Assert.All(tasks, t => Assert.Equal("COMPLETED", t["state"]!.GetValue<string>()));
        var edges = tasks.SelectMany(t => new[]
        {
            (Time: t["time"]!["start"]!.GetValue<DateTimeOffset>(), Delta: 1),
            (Time: t["time"]!["end"]!.GetValue<DateTimeOffset>(), Delta: -1),
        }).OrderBy(e => e.Time).ThenBy(e => e.Delta);
        var running = 0;
        var most = 0;
        foreach (var edge in edges)
        {
            running += edge.Delta;
            most = Math.Max(most, running);
        }

        Assert.InRange(most, 2, 4);
        Assert.Contains(tasks, t => t["job_id"]!.GetValue<string>() == array);
        Assert.All(tasks, t => Assert.Equal($"{array}_{t["array_task_id"]}", t["display_id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Queue_CollapsesPendingTasks_AndCancelTakesARange_OneTask_OrTheWholeArray()
    {
        var cli = NewCli();
        var array = (await cli.RunAsync("submit", "--parsable", "--hold", "--array", "1-100%4", "--wrap", "true")).Stdout.Trim();
        Assert.Matches(@"^\d+$", array);

        Assert.Contains($"{array}_[1-100%4]", await QueueLineAsync(cli, array), StringComparison.Ordinal);
        var dashboard = JsonNode.Parse(await fixture.Client.GetStringAsync("/api/v1/dashboard"))!;
        Assert.Equal(100, dashboard["arrays"]![array]!["PENDING"]!.GetValue<long>());
        Assert.Contains(dashboard["pending"]!.AsArray(), j => j!["display_id"]!.GetValue<string>() == $"{array}_[1-100%4]");

        var range = await cli.RunAsync("cancel", $"{array}_[1-5]");
        Assert.True(range.Code == 0, range.ToString());
        var one = await cli.RunAsync("cancel", $"{array}_9");
        Assert.True(one.Code == 0, one.ToString());
        var line = await Poll.UntilAsync(() => QueueLineAsync(cli, array), l => l.Contains("(JobHeldUser)", StringComparison.Ordinal), Soon, "the hold's reason");
        Assert.Contains($"{array}_[6-8,10-100%4]", line, StringComparison.Ordinal);

        var show = await cli.RunAsync("show", $"{array}_3");
        Assert.True(show.Code == 0, show.ToString());
        Assert.Contains("CANCELLED", show.Stdout, StringComparison.Ordinal);
        Assert.Contains($"{array}_3", show.Stdout, StringComparison.Ordinal);
        var pendingTask = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_50"))!;
        Assert.Equal("PENDING", pendingTask["state"]!.GetValue<string>());
        Assert.Equal(50, pendingTask["array_task_id"]!.GetValue<int>());

        // Releasing two tasks lets them, and only them, run.
        var released = await fixture.Client.PostAsync($"/api/v1/jobs/{Uri.EscapeDataString($"{array}_[6-7]")}/release", null);
        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        foreach (var task in new[] { 6, 7 })
        {
            await Poll.UntilAsync(async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_{task}"))!["state"]!.GetValue<string>(),
                state => state == "COMPLETED", Soon, $"task {task} to run once released");
        }

        Assert.Equal("PENDING", JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_8"))!["state"]!.GetValue<string>());

        Assert.Equal(0, (await cli.RunAsync("cancel", array)).Code);
        var whole = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}"))!;
        Assert.Equal(98, whole["array_tasks"]!["CANCELLED"]!.GetValue<long>());
        Assert.Equal(2, whole["array_tasks"]!["COMPLETED"]!.GetValue<long>());
        Assert.DoesNotContain(array, (await cli.RunAsync("queue")).Stdout, StringComparison.Ordinal);

        // Waiting on an array whose tasks did not all complete says so.
        Assert.Equal(1, (await cli.RunAsync("wait", "-q", array)).Code);
    }

    [Fact]
    public async Task UpdateAndRequeue_TakeOneTask_ByItsArrayId()
    {
        var cli = NewCli();
        var array = (await cli.RunAsync("submit", "--parsable", "--hold", "--array", "1-3", "--wrap", "true")).Stdout.Trim();

        var update = await cli.RunAsync("update", $"{array}_2", "--name", "second");
        Assert.True(update.Code == 0, update.ToString());
        var task = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_2"))!;
        Assert.Equal("second", task["detail"]!["name"]!.GetValue<string>());
        Assert.Equal("PENDING", task["state"]!.GetValue<string>());
        Assert.NotEqual("second", JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_1"))!["detail"]!["name"]!.GetValue<string>());

        Assert.Equal(0, (await cli.RunAsync("release", $"{array}_2")).Code);
        await Poll.UntilAsync(async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_2"))!["state"]!.GetValue<string>(),
            state => state == "COMPLETED", Soon, "the released task to run");
        var requeue = await cli.RunAsync("requeue", $"{array}_2");
        Assert.True(requeue.Code == 0, requeue.ToString());
        var again = await Poll.UntilAsync(async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_2"))!,
            j => j["state"]!.GetValue<string>() == "COMPLETED" && j["attempt"]!.GetValue<int>() == 2, Soon, "the requeued task to run again");
        Assert.Equal($"{array}_2", again["display_id"]!.GetValue<string>());

        var signal = await fixture.Client.PostAsJsonAsync($"/api/v1/jobs/{array}_[1-3]/signal", new { signal = "USR1" });
        Assert.Equal(HttpStatusCode.BadRequest, signal.StatusCode);
        Assert.Equal(0, (await cli.RunAsync("cancel", array)).Code);
    }

    [Fact]
    public async Task SlurmCommands_NameArrayTasks_AsSlurmDoes()
    {
        var sh = await SlurmShell.CreateAsync(fixture.Server, fixture.NewWorkDir());
        var array = (await sh.OutputAsync("sbatch --parsable -H -a 1-3,7 --wrap true")).Trim();

        Assert.Equal($"{array}_[1-3,7]|{array}|1-3,7|{array}\n", await sh.OutputAsync($"squeue -h -j {array} -o '%i|%F|%K|%A'"));
        Assert.Equal("", await sh.OutputAsync($"scancel {array}_2"));
        Assert.Equal($"{array}_[1,3,7]\n", await sh.OutputAsync($"squeue -h -j {array} -o %i"));

        var sacct = await sh.OutputAsync($"sacct -P -n --format=JobID,JobIDRaw,State -j {array}_2");
        var fields = sacct.Trim().Split('|');
        Assert.Equal($"{array}_2", fields[0]);
        Assert.NotEqual(array, fields[1]);
        Assert.Equal("CANCELLED", fields[2]);

        Assert.Equal("", await sh.OutputAsync($"scancel {array}"));
        Assert.Equal("", await sh.OutputAsync($"squeue -h -j {array} -t PD -o %i"));
    }

    [Fact]
    public async Task Submit_AHundredThousandTaskArray_IsAcceptedAtOnce_AsOneRow_AndTheServerStaysSmall()
    {
        var watch = Stopwatch.StartNew();
        var response = await fixture.Client.PostAsJsonAsync("/api/v1/jobs", new JsonObject
        {
            ["job"] = new JsonObject { ["array"] = "0-99999", ["current_working_directory"] = fixture.NewWorkDir() },
            ["script"] = "#!/bin/sh\ntrue\n",
        });
        var elapsed = watch.Elapsed;
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"a 100,000-task array took {elapsed.TotalMilliseconds:0} ms to submit");
        var array = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>();

        // Tasks start (a few at a time, as the node has room) while the rest stay in the array's one row.
        await Poll.UntilAsync(async () => (await fixture.TasksAsync(array)).Count(t => t["state"]!.GetValue<string>() == "COMPLETED"), n => n >= 8, Soon, "tasks to run");
        var whole = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}"))!;
        Assert.Equal(100_000, whole["array_tasks"]!.AsObject().Sum(kv => kv.Value!.GetValue<long>()));
        Assert.InRange((await fixture.TasksAsync(array)).Count, 8, 5000);

        var rssKiB = long.Parse(File.ReadLines($"/proc/{fixture.Server.ProcessId}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        Assert.True(rssKiB < 300 * 1024, $"the server's RSS is {rssKiB / 1024} MB");

        Assert.Equal(HttpStatusCode.OK, (await fixture.Client.PostAsync($"/api/v1/jobs/{array}/cancel", null)).StatusCode);
        await Poll.UntilAsync(async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}"))!["array_tasks"]!["PENDING"]?.GetValue<long>() ?? 0,
            n => n == 0, Soon, "the array's cancel");
    }

    [Fact]
    public async Task CancelHoldAndRelease_OfAHugeRangeOfUnstartedTasks_TouchOneRow_AndTakeUnderASecond()
    {
        var cli = NewCli();
        var array = (await cli.RunAsync("submit", "--parsable", "--hold", "--array", "1-100000", "--wrap", "true")).Stdout.Trim();
        Assert.Matches(@"^\d+$", array);

        async Task<TimeSpan> TimeAsync(params string[] args)
        {
            var watch = Stopwatch.StartNew();
            var result = await cli.RunAsync(args);
            Assert.True(result.Code == 0, result.ToString());
            return watch.Elapsed;
        }

        var cancel = await TimeAsync("cancel", $"{array}_[1-90000]");
        var hold = await TimeAsync("hold", $"{array}_[90001-95000]");
        var release = await TimeAsync("release", $"{array}_[95001-99990]");
        output.WriteLine($"cancel of 90,000 unstarted tasks: {cancel.TotalMilliseconds:0} ms; hold of 5,000: {hold.TotalMilliseconds:0} ms; release of 4,990: {release.TotalMilliseconds:0} ms (each a whole CLI run)");
        Assert.True(cancel < TimeSpan.FromSeconds(1) && release < TimeSpan.FromSeconds(1) && hold < TimeSpan.FromSeconds(1),
            $"cancel {cancel.TotalMilliseconds:0} ms, release {release.TotalMilliseconds:0} ms, hold {hold.TotalMilliseconds:0} ms");

        var counts = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}"))!["array_tasks"]!;
        Assert.Equal(90_000, counts["CANCELLED"]!.GetValue<long>());
        Assert.Equal(100_000, counts.AsObject().Sum(kv => kv.Value!.GetValue<long>()));
        Assert.Equal("CANCELLED", JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_45000"))!["state"]!.GetValue<string>());
        var held = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_92000"))!;
        Assert.Equal(("PENDING", "JobHeldUser"), (held["state"]!.GetValue<string>(), held["reason"]?.GetValue<string>()));

        // The released tasks run while the held ones wait; a handful of rows stand for the 100,000 tasks.
        await Poll.UntilAsync(async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_95001"))!["state"]!.GetValue<string>(),
            state => state == "COMPLETED", Soon, "a released task to run");
        Assert.InRange((await fixture.TasksAsync(array)).Count, 2, 1000);
        Assert.Equal("PENDING", JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_90001"))!["state"]!.GetValue<string>());
        Assert.Equal(0, (await cli.RunAsync("cancel", array)).Code);
    }

    [Theory]
    [InlineData("1-0", "ends before it starts")]
    [InlineData("1-10:0", "step")]
    [InlineData("1-10%0", "at least 1")]
    [InlineData("1-10000001", "1,000,000")]
    [InlineData("x", "not a task id")]
    public async Task Submit_RefusesABadArray_With400NamingTheField(string array, string expected)
    {
        var response = await fixture.Client.PostAsJsonAsync("/api/v1/jobs", new JsonObject
        {
            ["job"] = new JsonObject { ["array"] = array, ["current_working_directory"] = fixture.NewWorkDir() },
            ["script"] = "#!/bin/sh\ntrue\n",
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]!["job.array"]!.AsArray();
        Assert.Contains(expected, errors[0]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("12_x")]
    [InlineData("12_[5-1]")]
    [InlineData("0")]
    public async Task JobRoutes_RefuseABadJobId_With400(string id)
    {
        var response = await fixture.Client.GetAsync($"/api/v1/jobs/{Uri.EscapeDataString(id)}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("job_id", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATaskTheArrayLacks_IsRefusedWith400NamingTheField_AsACommandsTarget_AndAsADependency()
    {
        var cli = NewCli();
        var array = (await cli.RunAsync("submit", "--parsable", "--hold", "--array", "1-5", "--wrap", "true")).Stdout.Trim();
        var plain = (await cli.RunAsync("submit", "--parsable", "--hold", "--wrap", "true")).Stdout.Trim();

        foreach (var route in new[] { "cancel", "hold", "release", "requeue" })
        {
            var response = await fixture.Client.PostAsync($"/api/v1/jobs/{array}_7/{route}", null);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]!["job_id"]![0]!.GetValue<string>();
            Assert.Equal($"array {array} has no task 7: its tasks are 1-5", message);
        }

        var signal = await fixture.Client.PostAsJsonAsync($"/api/v1/jobs/{array}_7/signal", new { signal = "USR1" });
        Assert.Equal(HttpStatusCode.BadRequest, signal.StatusCode);
        var range = await fixture.Client.PostAsync($"/api/v1/jobs/{Uri.EscapeDataString($"{array}_[8-9]")}/cancel", null);
        Assert.Contains("has no task in [8-9]", JsonNode.Parse(await range.Content.ReadAsStringAsync())!["errors"]!["job_id"]![0]!.GetValue<string>(),
            StringComparison.Ordinal);
        var notArray = await fixture.Client.PostAsync($"/api/v1/jobs/{plain}_1/cancel", null);
        Assert.Equal(HttpStatusCode.BadRequest, notArray.StatusCode);
        Assert.Contains($"job {plain} is not a job array", await notArray.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var cancel = await cli.RunAsync("cancel", $"{array}_7");
        Assert.NotEqual(0, cancel.Code);
        Assert.Contains("has no task 7", cancel.Stderr, StringComparison.Ordinal);
        var dependent = await cli.RunAsync("submit", "-d", $"afterok:{array}_7", "--wrap", "true");
        Assert.Equal(1, dependent.Code);
        Assert.Contains($"names {array}_7, but array {array} has no task 7", dependent.Stderr, StringComparison.Ordinal);

        // A range that reaches past the array acts on the tasks it has.
        Assert.Equal(0, (await cli.RunAsync("cancel", $"{array}_[5-9]")).Code);
        Assert.Equal("CANCELLED", JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{array}_5"))!["state"]!.GetValue<string>());
        Assert.Equal(0, (await cli.RunAsync("cancel", array, plain)).Code);
    }

    private static async Task<string> QueueLineAsync(Cli cli, string array)
    {
        var queue = await cli.RunAsync("queue");
        Assert.True(queue.Code == 0, queue.ToString());
        return Assert.Single(queue.Stdout.Split('\n'), l => l.TrimStart().StartsWith(array + "_", StringComparison.Ordinal));
    }
}
