using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>SCNS-Conductor clients, fed the exact bodies of that system's documentation.</summary>
[Collection("server")]
public sealed class CompatibilityTests(ServerFixture fixture)
{
    // The "submit a simple job" example, byte for byte.
    private const string SimpleJobBody = """
        {
            "job": {
              "account": "my_project",
              "environment": {},
              "current_working_directory": "/tmp",
              "standard_output": "hello.out",
              "standard_error": "hello.err",
              "ntasks_per_node": 1,
              "cpus_per_task": 1,
              "memory_per_node": "1G",
              "name": "hello_world",
              "time_limit": "5",
              "partition": "default",
              "exclusive": false
            },
            "script": "#!/bin/bash\necho \"Hello World\"\ndate\n"
          }
        """;

    [Fact]
    public async Task SubmitAndQuery_MatchTheOriginalShapes_ForTheSimpleJobExample()
    {
        var response = await fixture.Client.PostAsync("/jobs/submit", new StringContent(SimpleJobBody, Encoding.UTF8, "application/json"));
        var submitted = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, submitted);
        var submitJson = JsonNode.Parse(submitted)!.AsObject();
        Assert.Equal(["job_id"], submitJson.Select(p => p.Key));
        var id = submitJson["job_id"]!.GetValue<string>();

        var job = await Poll.UntilAsync(
            async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/jobs/query/{id}"))!,
            j => j["state"]!.GetValue<string>() is "COMPLETED" or "FAILED", TimeSpan.FromSeconds(20), "the job to finish");

        Assert.Equal(["job_id", "state", "error_msg", "time", "job_log", "detail"], job.AsObject().Select(p => p.Key));
        Assert.Equal(id, job["job_id"]!.GetValue<string>());
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.Null(job["error_msg"]);
        var time = job["time"]!.AsObject();
        Assert.Equal(["submit_time", "start_time", "end_time", "eligible_time", "elapsed_time", "limit_time"], time.Select(p => p.Key));
        Assert.Equal("0:05:00", time["limit_time"]!.GetValue<string>());
        Assert.Matches(@"^\d+-\d\d:\d\d:\d\d$", time["elapsed_time"]!.GetValue<string>());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$", time["submit_time"]!.GetValue<string>());
        Assert.StartsWith("Hello World", job["job_log"]!["stdout"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(["stderr", "stdout"], job["job_log"]!.AsObject().Select(p => p.Key));
        var detail = job["detail"]!.AsObject();
        Assert.Equal(
            ["job_name", "user", "partition", "allocated_cpus", "allocated_nodes", "node_list", "exit_code", "work_dir", "data_source", "account"],
            detail.Select(p => p.Key));
        Assert.Equal("hello_world", detail["job_name"]!.GetValue<string>());
        Assert.Equal("my_project", detail["user"]!.GetValue<string>());
        Assert.Equal("0:0", detail["exit_code"]!.GetValue<string>());
        Assert.Equal(1, detail["allocated_cpus"]!.GetValue<int>());
        Assert.Equal("/tmp", detail["work_dir"]!.GetValue<string>());
    }

    [Fact]
    public async Task PythonClientPayload_SubmitsQueriesAndCancels()
    {
        var workDir = fixture.NewWorkDir();
        var name = "py_client_job";
        var cpus = 1;
        var payload = new JsonObject
        {
            ["job"] = new JsonObject
            {
                ["account"] = "py_account",
                ["environment"] = new JsonObject { ["GREETING"] = "hi" },
                ["current_working_directory"] = workDir,
                ["standard_output"] = $"{name}.out",
                ["standard_error"] = $"{name}.err",
                ["ntasks_per_node"] = 1,
                ["cpus_per_task"] = cpus,
                ["memory_per_node"] = $"{cpus * 2}G",
                ["name"] = name,
                ["time_limit"] = "60",
                ["partition"] = "default",
                ["exclusive"] = false,
            },
            ["script"] = "#!/bin/bash\necho \"$GREETING from $SLURM_JOB_NAME\"\nsleep 600\n",
        };
        var response = await fixture.Client.PostAsJsonAsync("/jobs/submit", payload);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = int.Parse(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>());

        var running = await Poll.UntilAsync(
            async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/jobs/query/{id}"))!,
            j => j["job_log"]!["stdout"]!.GetValue<string>().Length > 0, TimeSpan.FromSeconds(20), "the job's first output");
        Assert.Equal("RUNNING", running["state"]!.GetValue<string>());
        Assert.Equal("hi from py_client_job\n", running["job_log"]!["stdout"]!.GetValue<string>());
        Assert.Equal("1:00:00", running["time"]!["limit_time"]!.GetValue<string>());
        Assert.Equal(":", running["detail"]!["exit_code"]!.GetValue<string>());

        var cancel = await fixture.Client.PostAsync($"/jobs/cancel/{id}", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.NotNull(JsonNode.Parse(await cancel.Content.ReadAsStringAsync())!["msg"]);
        var cancelled = await Poll.UntilAsync(
            async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/jobs/query/{id}"))!,
            j => j["detail"]!["exit_code"]!.GetValue<string>() != ":", TimeSpan.FromSeconds(10), "the exit code of the cancelled job");
        Assert.Equal("CANCELLED", cancelled["state"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await fixture.Client.PostAsync($"/jobs/cancel/{id}", null)).StatusCode);
    }

    [Fact]
    public async Task Query_Returns404_ForAMissingJob()
    {
        var response = await fixture.Client.GetAsync("/jobs/query/999999");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.NotNull(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["detail"]);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Client.PostAsync("/jobs/cancel/999999", null)).StatusCode);
    }

    [Fact]
    public async Task Dashboard_HasTheOriginalShape()
    {
        var dashboard = JsonNode.Parse(await fixture.Client.GetStringAsync("/dashboard"))!;
        foreach (var key in new[] { "job_stats", "resource_stats", "node_info", "running_jobs", "pending_jobs" })
        {
            Assert.NotNull(dashboard[key]);
        }

        foreach (var key in new[] { "total", "running", "pending", "completed", "failed", "cancelled" })
        {
            Assert.NotNull(dashboard["job_stats"]![key]);
        }

        Assert.Equal(2, dashboard["resource_stats"]!["total_cpus"]!.GetValue<int>());
        var node = Assert.Single(dashboard["node_info"]!.AsArray());
        Assert.Equal("e2e-node", node!["node_name"]!.GetValue<string>());
        Assert.True(node["available"]!.GetValue<bool>());
    }
}
