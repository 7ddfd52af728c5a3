using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// Per-user limits on a real server: pending jobs refused at submit with 429 and nothing written, running jobs held
/// back with Slurm's reason until one ends, and submissions too large to run refused with the field named.
/// </summary>
public sealed class UserLimitsTests : IAsyncLifetime
{
    private ServerProcess _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerProcess.StartAsync("--cpus", "4", "--memory", "4G", "--kill-wait", "1s",
            "--max-pending-per-user", "2", "--max-running-per-user", "1");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Limits_HoldTheSecondJobWithSlurmsReason_Refuse429BeyondThePendingLimit_AndLetTheNextRunWhenOneEnds()
    {
        using var client = _server.CreateClient();
        var work = _server.WorkDirectory;
        var first = await SubmitAsync(client, work);
        await WaitForAsync(client, first, j => j["state"]!.GetValue<string>() == "RUNNING", "the first job to run");
        var second = await SubmitAsync(client, work);
        var third = await SubmitAsync(client, work);

        var refused = await client.PostAsJsonAsync("/api/v1/jobs", Body(work));
        var refusal = await refused.Content.ReadAsStringAsync();
        var held = await WaitForAsync(client, second, j => j["reason"]?.GetValue<string>() == "QOSMaxJobsPerUserLimit", "the second job's reason");
        var cli = new Cli(_server, work);
        var cliRefused = await cli.RunAsync("submit", "--wrap", "true");
        var listed = JsonNode.Parse(await client.GetStringAsync("/api/v1/jobs?limit=1000"))!["jobs"]!.AsArray();

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("at most 2", refusal, StringComparison.Ordinal);
        Assert.Equal("PENDING", held["state"]!.GetValue<string>());
        Assert.Equal(1, cliRefused.Code);
        Assert.Contains("pending jobs", cliRefused.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, listed.Count);

        Assert.True((await client.PostAsync($"/api/v1/jobs/{first}/cancel", null)).IsSuccessStatusCode);
        await WaitForAsync(client, second, j => j["state"]!.GetValue<string>() == "RUNNING", "the second job to run once the first ended");
        var stillHeld = JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{third}"))!;
        Assert.Equal("QOSMaxJobsPerUserLimit", stillHeld["reason"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("environment")]
    [InlineData("arguments")]
    public async Task Submit_TooLargeAField_Is400NamingIt(string field)
    {
        using var client = _server.CreateClient();
        var job = new JsonObject { ["current_working_directory"] = _server.WorkDirectory };
        var big = new string('x', 300 * 1024);
        job[field] = field == "environment"
            ? new JsonObject { ["A"] = big, ["B"] = big, ["C"] = big, ["D"] = big }
            : new JsonArray(big, big);

        var response = await client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = job, ["script"] = "#!/bin/bash\ntrue\n" });
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(problem["errors"]![$"job.{field}"]);
    }

    private static JsonObject Body(string work) => new()
    {
        ["job"] = new JsonObject { ["current_working_directory"] = work },
        ["script"] = "#!/bin/bash\nsleep 30\n",
    };

    private static async Task<string> SubmitAsync(HttpClient client, string work)
    {
        var response = await client.PostAsJsonAsync("/api/v1/jobs", Body(work));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"submit answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["job_id"]!.GetValue<string>();
    }

    private static Task<JsonNode> WaitForAsync(HttpClient client, string id, Func<JsonNode, bool> done, string what) =>
        Poll.UntilAsync(async () => JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!, done, TimeSpan.FromSeconds(30), what);
}
