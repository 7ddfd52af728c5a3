using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

[Collection("server")]
public sealed class JobLifecycleTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Submit_CompletesWithOutput_WhenScriptSucceeds()
    {
        var dir = fixture.NewWorkDir();
        var id = await fixture.SubmitAsync("#!/bin/bash\necho \"Hello from $SLURM_JOB_ID\"\necho oops >&2\n", new { name = "hello", time_limit = "1" }, dir);

        var job = await fixture.WaitForStateAsync(id, Soon, "COMPLETED", "FAILED");
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.Equal("0:0", job["exit_code"]!.GetValue<string>());
        Assert.Equal("e2e-node", job["detail"]!["node_list"]!.GetValue<string>());
        var stdoutPath = Path.Combine(dir, $"slurm-{id}.out");
        Assert.Equal(stdoutPath, job["detail"]!["stdout_path"]!.GetValue<string>());
        Assert.Equal($"Hello from {id}\noops\n", await File.ReadAllTextAsync(stdoutPath));

        var withLogs = await fixture.GetJobAsync(id, logs: true);
        Assert.StartsWith($"Hello from {id}", withLogs["log"]!["stdout"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_FailsWithExitCode_WhenScriptExitsNonZero()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\nexit 3\n");
        var job = await fixture.WaitForStateAsync(id, Soon, "FAILED", "COMPLETED");
        Assert.Equal("FAILED", job["state"]!.GetValue<string>());
        Assert.Equal("3:0", job["exit_code"]!.GetValue<string>());
        Assert.Contains("3", job["error_msg"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_WritesPatternedSeparateFiles_WhenOutputAndErrorAreGiven()
    {
        var dir = fixture.NewWorkDir();
        var id = await fixture.SubmitAsync("#!/bin/bash\necho out\necho err >&2\n",
            new { name = "pat", standard_output = "logs/%x-%j.out", standard_error = "logs/%x-%j.err" }, dir);
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");
        Assert.Equal("out\n", await File.ReadAllTextAsync(Path.Combine(dir, "logs", $"pat-{id}.out")));
        Assert.Equal("err\n", await File.ReadAllTextAsync(Path.Combine(dir, "logs", $"pat-{id}.err")));
    }

    [Fact]
    public async Task Cancel_EndsRunningJobAndItsChildren_WithinGracePeriod()
    {
        var dir = fixture.NewWorkDir();
        var script = "#!/bin/bash\necho $$ >> pids\n(sleep 600 & echo $! >> pids; wait) &\necho $! >> pids\nsleep 600\n";
        var id = await fixture.SubmitAsync(script, new { name = "sleeper" }, dir);
        await fixture.WaitForStateAsync(id, Soon, "RUNNING");
        var pidFile = Path.Combine(dir, "pids");
        await Poll.UntilAsync(() => Processes.ReadPids(pidFile).Count >= 3, Soon, "the job to write its pids");
        var pids = Processes.ReadPids(pidFile);
        Assert.All(pids, p => Assert.True(Processes.IsAlive(p)));

        var started = DateTime.UtcNow;
        var response = await fixture.Client.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        response.EnsureSuccessStatusCode();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("CANCELLED", body["state"]!.GetValue<string>());

        await Poll.UntilAsync(() => pids.All(p => !Processes.IsAlive(p)), TimeSpan.FromSeconds(2 + 1 + 2), "every process of the job to end");
        await Poll.UntilAsync(async () => (await fixture.DashboardAsync())["cpus"]!["allocated"]!.GetValue<int>(), n => n == 0,
            TimeSpan.FromSeconds(5), "the dashboard to show no allocated CPUs");
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2 + 1 + 5));

        var job = await fixture.GetJobAsync(id);
        Assert.Equal("CANCELLED", job["state"]!.GetValue<string>());

        // Cancelling again is fine and changes nothing.
        var again = await fixture.Client.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("CANCELLED", (await fixture.GetJobAsync(id))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task TimeLimit_EndsJobAsTimeout_WhenScriptRunsTooLong()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\nsleep 60\n", new { time_limit = "0:02" });
        var job = await fixture.WaitForStateAsync(id, TimeSpan.FromSeconds(2 + 2 + 5), "TIMEOUT", "FAILED", "COMPLETED");
        Assert.Equal("TIMEOUT", job["state"]!.GetValue<string>());
        Assert.Equal("0:00:02", job["time"]!["limit"]!.GetValue<string>());
        Assert.Equal(2, job["time"]!["limit_seconds"]!.GetValue<double>());
    }

    [Fact]
    public async Task Cancel_OfPendingJob_IsImmediate()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n", new { hold = true });
        var pending = await fixture.WaitForStateAsync(id, Soon, "PENDING");
        Assert.Equal("PENDING", pending["state"]!.GetValue<string>());
        await Poll.UntilAsync(() => fixture.GetJobAsync(id), j => j["reason"]?.GetValue<string>() == "JobHeldUser", Soon, "the held reason");

        var response = await fixture.Client.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        response.EnsureSuccessStatusCode();
        var job = await fixture.GetJobAsync(id);
        Assert.Equal("CANCELLED", job["state"]!.GetValue<string>());
        Assert.Null(job["time"]!["start"]?.GetValue<DateTimeOffset?>());
    }

    [Fact]
    public async Task Events_ListTheTimeline_OfACompletedJob()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n");
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");
        var events = await Poll.UntilAsync(
            async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray(),
            e => e.Any(x => x!["kind"]!.GetValue<string>() == "finished"), Soon, "the finished event");
        var kinds = events.Select(e => e!["kind"]!.GetValue<string>()).ToList();
        Assert.Equal("submitted", kinds[0]);
        Assert.True(kinds.IndexOf("scheduled") < kinds.IndexOf("launched"));
        Assert.True(kinds.IndexOf("launched") < kinds.LastIndexOf("finished"));
        var times = events.Select(e => e!["time"]!.GetValue<DateTimeOffset>()).ToList();
        Assert.Equal(times.Order().ToList(), times);
    }

    [Fact]
    public async Task Output_ReturnsBytesFromOffset()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\nprintf 'abcdef'\n");
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");
        var chunk = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{id}/output?stream=stdout&offset=2"))!;
        Assert.Equal("cdef", chunk["data"]!.GetValue<string>());
        Assert.Equal(6, chunk["next_offset"]!.GetValue<long>());
        Assert.True(chunk["eof"]!.GetValue<bool>());
    }

    [Fact]
    public async Task List_PagesByIdAndFilters()
    {
        var account = "acct" + Guid.NewGuid().ToString("N")[..6];
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await fixture.SubmitAsync("#!/bin/bash\ntrue\n", new { account, hold = true }));
        }

        var seen = new List<string>();
        string? after = null;
        do
        {
            var url = $"/api/v1/jobs?account={account}&limit=2" + (after is null ? "" : $"&after={after}");
            var page = JsonNode.Parse(await fixture.Client.GetStringAsync(url))!;
            seen.AddRange(page["jobs"]!.AsArray().Select(j => j!["job_id"]!.GetValue<string>()));
            after = page["next_after"]?.GetValue<string>();
        }
        while (after is not null);

        Assert.Equal(ids, seen);
        var running = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs?account={account}&state=RUNNING"))!;
        Assert.Empty(running["jobs"]!.AsArray());
        foreach (var id in ids)
        {
            await fixture.Client.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        }
    }

    [Fact]
    public async Task Nodes_ShowTheLocalNode()
    {
        var nodes = JsonNode.Parse(await fixture.Client.GetStringAsync("/api/v1/nodes"))!.AsArray();
        var node = Assert.Single(nodes);
        Assert.Equal("e2e-node", node!["name"]!.GetValue<string>());
        Assert.Equal(2, node["cpus"]!.GetValue<int>());
        Assert.Equal(4096, node["memory_mib"]!.GetValue<long>());
    }

    [Fact]
    public async Task OpenApi_DocumentIsServed()
    {
        using var anonymous = fixture.Server.CreateClient(authenticated: false);
        var doc = JsonNode.Parse(await anonymous.GetStringAsync("/openapi/v1.json"))!;
        Assert.NotNull(doc["paths"]!["/api/v1/jobs"]);
        Assert.NotNull(doc["paths"]!["/jobs/submit"]);
    }

    [Fact]
    public async Task Requests_WithoutValidToken_AreRefused()
    {
        using var anonymous = fixture.Server.CreateClient(authenticated: false);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/jobs/submit", new { })).StatusCode);
        anonymous.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-the-token-at-all");
        var refused = await anonymous.GetAsync("/api/v1/dashboard");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
    }
}
