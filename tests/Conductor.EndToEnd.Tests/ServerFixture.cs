using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>One real server shared by the tests of a class.</summary>
public class ServerFixture : IAsyncLifetime
{
    /// <summary>The server's flags: two CPUs unless a fixture of its own says otherwise.</summary>
    protected virtual string[] Arguments => ["--cpus", "2", "--memory", "4G", "--kill-wait", "2s"];

    public ServerProcess Server { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ServerProcess.StartAsync(Arguments);
        Client = Server.CreateClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }

    public string NewWorkDir()
    {
        var dir = Path.Combine(Server.WorkDirectory, Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public async Task<string> SubmitAsync(string script, object? job = null, string workDir = "")
    {
        var spec = JsonSerializerNode(job ?? new { });
        spec["current_working_directory"] ??= workDir.Length > 0 ? workDir : NewWorkDir();
        var response = await Client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = spec, ["script"] = script });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"submit answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["job_id"]!.GetValue<string>();
    }

    public async Task<JsonNode> GetJobAsync(string id, bool logs = false)
    {
        var response = await Client.GetAsync($"/api/v1/jobs/{id}" + (logs ? "?logs=true" : ""));
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    public Task<JsonNode> WaitForStateAsync(string id, TimeSpan timeout, params string[] states) =>
        Poll.UntilAsync(() => GetJobAsync(id), j => states.Contains(j["state"]!.GetValue<string>()), timeout,
            $"job {id} to reach {string.Join(" or ", states)}");

    public async Task<JsonNode> DashboardAsync() =>
        JsonNode.Parse(await Client.GetStringAsync("/api/v1/dashboard"))!;

    private static JsonObject JsonSerializerNode(object value) =>
        System.Text.Json.JsonSerializer.SerializeToNode(value)!.AsObject();
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
