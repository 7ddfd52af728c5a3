using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// A cluster whose PostgreSQL server restarts under load: two servers and two agents on a database server of the
/// test's own, 50 jobs running when it goes down and ending while it is down. Nothing is lost: the jobs run on, their
/// ends are recorded once the processes have reconnected, each ran exactly once, the allocations are all released, one server holds the
/// scheduler role again, and new work is scheduled.
/// </summary>
[Collection("server")]
public sealed class DatabaseRestartTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string AdminToken = "restart-e2e-admin-token-0123456789";
    private const int Jobs = 50;
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    private readonly List<ClusterProcess> _processes = [];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "conductor-restart-" + Guid.NewGuid().ToString("N")[..10]);
    private PostgresInstance? _postgres;
    private string _connectionString = "";

    private string WorkDir => Path.Combine(_root, "work");

    public async Task InitializeAsync()
    {
        if (PostgresInstance.SkipReason is null)
        {
            Directory.CreateDirectory(WorkDir);
            _postgres = await PostgresInstance.StartAsync();
            _connectionString = _postgres.ConnectionString(await _postgres.CreateDatabaseAsync());
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    [OwnPostgresFact]
    public async Task Restart_OfTheDatabaseWhile50JobsRunAndEnd_LosesNothing()
    {
        try
        {
            await RunRestartScenarioAsync();
        }
        catch
        {
            // What each process said is the story of a failure.
            foreach (var process in _processes)
            {
                var log = process.ReadLog();
                output.WriteLine($"--- {process.Name} (last lines) ---\n{log[Math.Max(0, log.Length - 6000)..]}");
            }

            throw;
        }
    }

    private async Task RunRestartScenarioAsync()
    {
        var environment = new Dictionary<string, string> { ["CONDUCTOR_ADMIN_TOKEN"] = AdminToken };
        var servers = new[] { StartServer("server1", environment), StartServer("server2", environment) };
        StartAgent("nodeA", environment);
        StartAgent("nodeB", environment);
        foreach (var server in servers)
        {
            await server.WaitForHealthAsync();
        }

        using var client = servers[0].Client(AdminToken);
        await Poll.UntilAsync(
            async () => (await client.GetFromJsonAsync<JsonNode>("/api/v1/nodes"))!.AsArray().Count(n => n!["state"]!.GetValue<string>() == "UP"),
            n => n == 2, Soon, "both nodes to register");

        // 50 one-CPU jobs on 2 x 25 CPUs: all run at once, each until the test releases it; each leaves its id in a
        // marker file when it ends.
        var marker = Path.Combine(WorkDir, "ran.txt");
        var release = Path.Combine(WorkDir, "release");
        var script = $"#!/bin/bash\nwhile [ ! -e {release} ]; do sleep 0.2; done\necho $SLURM_JOB_ID >> {marker}\n";
        var ids = new List<string>();
        for (var i = 0; i < Jobs; i++)
        {
            ids.Add(await SubmitAsync(client, script));
        }

        await Poll.UntilAsync(() => CountAsync(client, ids, "RUNNING", launched: true), n => n == Jobs, Soon, $"all {Jobs} jobs to run");

        // The database goes down while they run, and stays down until every job has ended: their ends wait in the
        // agents' outboxes, the servers answer errors, the leader loses its lock.
        var restart = Stopwatch.StartNew();
        await _postgres!.StopAsync();
        await File.WriteAllTextAsync(release, "");
        await Poll.UntilAsync(() => File.Exists(marker) && File.ReadAllLines(marker).Length == Jobs, Soon, $"all {Jobs} jobs to end while the database is down");
        await _postgres.StartServerAsync();
        output.WriteLine($"PostgreSQL was down for {restart.Elapsed.TotalSeconds:0.0} s while {Jobs} jobs ended");

        // Every job ends COMPLETED with exit 0:0, as its own process decided, recorded after the reconnect.
        using var after = servers[1].Client(AdminToken);
        await Poll.UntilAsync(async () => await TryAsync(() => CountAsync(after, ids, "COMPLETED", launched: false)), n => n == Jobs, Soon,
            $"all {Jobs} jobs to be recorded COMPLETED after the restart");
        output.WriteLine($"all {Jobs} ends recorded {restart.Elapsed.TotalSeconds:0.0} s after the restart began");
        foreach (var id in ids)
        {
            var job = await after.GetJobAsync(id);
            Assert.Equal("0:0", job["exit_code"]!.GetValue<string>());
            Assert.Equal(1, job["attempt"]!.GetValue<int>());
        }

        // Each ran exactly once, and nothing is left allocated.
        Assert.Equal(ids.Order(), File.ReadAllLines(marker).Order());
        await Poll.UntilAsync(
            async () => (await after.GetFromJsonAsync<JsonNode>("/api/v1/nodes"))!.AsArray().Sum(n => n!["cpus_allocated"]!.GetValue<int>()),
            n => n == 0, Soon, "the allocations to be released");

        // One server holds the scheduler role, and new work is scheduled.
        await Poll.UntilAsync(async () => await Task.WhenAll(servers.Select(s => s.RoleAsync())),
            roles => roles.Count(r => r == "leader") == 1 && roles.Count(r => r == "standby") == 1, Soon, "one leader and one standby");
        var next = await SubmitAsync(after, "#!/bin/bash\necho after the restart\n");
        var ended = await Poll.UntilAsync(() => client.GetJobAsync(next), j => j["state"]!.GetValue<string>() is "COMPLETED" or "FAILED", Soon,
            $"job {next} submitted after the restart to end");
        Assert.Equal("COMPLETED", ended["state"]!.GetValue<string>());
        foreach (var process in _processes)
        {
            Assert.False(process.HasExited, $"{process.Name} exited: {process.ReadLog()}");
        }
    }

    private static async Task<int> TryAsync(Func<Task<int>> probe)
    {
        try
        {
            return await probe();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return -1;
        }
    }

    private async Task<int> CountAsync(HttpClient client, List<string> ids, string state, bool launched)
    {
        var count = 0;
        foreach (var id in ids)
        {
            var job = await client.GetJobAsync(id);
            if (job["state"]!.GetValue<string>() == state && (!launched || ClusterProcess.FindJobProcess(_root, id) is not null))
            {
                count++;
            }
        }

        return count;
    }

    private ClusterProcess StartServer(string name, IReadOnlyDictionary<string, string> environment)
    {
        var port = ClusterProcess.FreePort();
        var process = ClusterProcess.Start(_root, name, environment, port,
            "server", "--db", _connectionString, "--listen", $"127.0.0.1:{port}", "--node-timeout", "30s");
        _processes.Add(process);
        return process;
    }

    private void StartAgent(string node, IReadOnlyDictionary<string, string> environment) =>
        _processes.Add(ClusterProcess.Start(_root, node, environment, null,
            "agent", "--db", _connectionString, "--node", node, "--cpus", "25", "--memory", "8G", "--heartbeat", "1s", "--kill-wait", "2s"));

    private async Task<string> SubmitAsync(HttpClient client, string script)
    {
        var spec = new JsonObject { ["current_working_directory"] = WorkDir, ["cpus_per_task"] = 1, ["name"] = "restart" };
        var response = await client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = spec, ["script"] = script });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"submit answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["job_id"]!.GetValue<string>();
    }
}
