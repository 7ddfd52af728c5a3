using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// A cluster on one machine: two `conductor server --db` processes and two `conductor agent --db` processes (nodeA
/// and nodeB, two CPUs each) on a fresh PostgreSQL database. Jobs spread over both nodes within their capacity;
/// cancel and output work for jobs on the agents; a killed agent's requeue jobs finish on the other node; a killed
/// scheduler leader hands the role to the other server.
/// </summary>
[Collection("server")]
public sealed class ClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string AdminToken = "cluster-e2e-admin-token-0123456789";
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private readonly List<ClusterProcess> _processes = [];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "conductor-cluster-" + Guid.NewGuid().ToString("N")[..10]);
    private string? _database;
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        if (ClusterDatabase.SkipReason is null)
        {
            Directory.CreateDirectory(Path.Combine(_root, "work"));
            (_database, _connectionString) = await ClusterDatabase.CreateAsync();
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        if (_database is not null)
        {
            await ClusterDatabase.DropAsync(_database);
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a job may still hold a file; the temp directory is cleaned by the system
        }
    }

    [PostgresFact]
    public async Task Cluster_RunsJobsOnBothNodes_AndSurvivesKilledAgentAndKilledLeader()
    {
        var environment = new Dictionary<string, string> { ["CONDUCTOR_ADMIN_TOKEN"] = AdminToken };
        var server1 = StartServer("server1", environment);
        var server2 = StartServer("server2", environment);
        var agentA = StartAgent("nodeA", environment, server1);
        var agentB = StartAgent("nodeB", environment, server1);
        await server1.WaitForHealthAsync();
        await server2.WaitForHealthAsync();
        using var client1 = server1.Client(AdminToken);
        using var client2 = server2.Client(AdminToken);
        await Poll.UntilAsync(
            async () => (await client1.GetFromJsonAsync<JsonNode>("/api/v1/nodes"))!.AsArray().Count(n => n!["state"]!.GetValue<string>() == "UP"),
            n => n == 2, Soon, "both nodes to register");
        var leaders = await Task.WhenAll(server1.RoleAsync(), server2.RoleAsync());
        Assert.Equal(["leader", "standby"], leaders.Order());

        // The standby shows a pending job's priority factors too: it refreshes them from the database, read only.
        using var standbyClient = leaders[0] == "standby" ? server1.Client(AdminToken) : server2.Client(AdminToken);
        var held = await SubmitAsync(standbyClient, "#!/bin/bash\ntrue\n", new { name = "held", hold = true, nice = 5 });
        var factors = await Poll.UntilAsync(
            async () => (await standbyClient.GetFromJsonAsync<JsonNode>($"/api/v1/jobs/{held}"))!["detail"]!["priority_factors"],
            f => f is not null, Soon, "the standby to show the priority factors");
        Assert.Equal(5, factors!["nice"]!.GetValue<int>());
        Assert.InRange(factors["fair_share"]!.GetValue<double>(), 0, 1);
        Assert.Equal(HttpStatusCode.OK, (await standbyClient.PostAsync($"/api/v1/jobs/{held}/cancel", null)).StatusCode);

        // (a) 8 one-CPU jobs of 2 s on 2 nodes of 2 CPUs: 4 at a time, never more than 2 on a node. The first
        // batch meets freshly started processes; the second shows the steady state.
        var ids = await RunSpreadAsync(client1, client2, "first batch");
        await RunSpreadAsync(client1, client2, "second batch");

        // Output of a job that ran on an agent, read through either server (one filesystem here, as in a cluster with shared storage).
        var outputView = await client2.GetFromJsonAsync<JsonNode>($"/api/v1/jobs/{ids[0]}/output");
        Assert.StartsWith("ran on node", outputView!["data"]!.GetValue<string>(), StringComparison.Ordinal);

        // Slurm's commands on a compute node: the agent put them on the job's PATH, pointing at the API server, and
        // the job authenticates with the token its submitter gave it.
        var slurmJob = await SubmitAsync(client1, "#!/bin/bash\nsqueue -h -j $SLURM_JOB_ID -o '%i %T %N'\n",
            new { name = "squeue-inside", environment = new Dictionary<string, string> { ["CONDUCTOR_TOKEN"] = AdminToken } });
        var slurmEnded = await client1.WaitForStateAsync(slurmJob, Soon, "COMPLETED", "FAILED");
        var slurmOutput = (await client1.GetFromJsonAsync<JsonNode>($"/api/v1/jobs/{slurmJob}/output"))!["data"]!.GetValue<string>();
        Assert.Equal($"{slurmJob} RUNNING {slurmEnded["detail"]!["node_list"]}", slurmOutput.Trim());

        // Cancel through one server reaches the agent that runs the job, through the database.
        var long1 = await SubmitAsync(client2, "#!/bin/bash\nsleep 120\n", new { name = "to-cancel" });
        var running = await client2.WaitForStateAsync(long1, Soon, "RUNNING");
        var runningPid = await Poll.UntilAsync(() => Task.FromResult(ClusterProcess.FindJobProcess(_root, long1)), p => p is not null, Soon, $"job {long1}'s process");
        Assert.Equal(HttpStatusCode.OK, (await client1.PostAsync($"/api/v1/jobs/{long1}/cancel", null)).StatusCode);
        var cancelled = await client1.WaitForStateAsync(long1, Soon, "CANCELLED");
        await Poll.UntilAsync(() => !Processes.IsAlive(runningPid!.Value), Soon, $"job {long1}'s process to die after cancel");
        output.WriteLine($"cancelled job {long1} on {running["detail"]!["node_list"]}: {cancelled["state"]}, its process gone");

        // (b) kill -9 of an agent: its requeue job comes back (attempt 2) and finishes on the other node; its
        // other job ends NODE_FAIL.
        var plain = await SubmitAsync(client1, "#!/bin/bash\nsleep 4\n", new { name = "plain" });
        var requeue = await SubmitAsync(client1, "#!/bin/bash\necho \"attempt on $SLURM_JOB_NODELIST\"\nsleep 4\n", new { name = "requeue", requeue = true });
        var requeueRunning = await WaitForLaunchedAsync(client1, requeue);
        var victimNode = requeueRunning["detail"]!["node_list"]!.GetValue<string>();
        var plainRunning = await WaitForLaunchedAsync(client1, plain);
        var plainOnVictim = plainRunning["detail"]!["node_list"]!.GetValue<string>() == victimNode;
        var victim = victimNode == "nodeA" ? agentA : agentB;
        var survivorNode = victimNode == "nodeA" ? "nodeB" : "nodeA";
        var killedAt = Stopwatch.StartNew();
        await victim.KillAsync();
        var killedJobs = victim.KillJobProcesses();
        output.WriteLine($"killed the agent of {victimNode} and {killedJobs} job process group(s); plain job on it: {plainOnVictim}");

        var requeued = await client2.WaitForStateAsync(requeue, TimeSpan.FromSeconds(60), "COMPLETED", "FAILED", "NODE_FAIL", "CANCELLED");
        output.WriteLine($"requeue job {requeue} COMPLETED on {requeued["detail"]!["node_list"]} {killedAt.Elapsed.TotalSeconds:0.0} s after the kill");
        Assert.Equal("COMPLETED", requeued["state"]!.GetValue<string>());
        Assert.Equal(2, requeued["attempt"]!.GetValue<int>());
        Assert.Equal(survivorNode, requeued["detail"]!["node_list"]!.GetValue<string>());
        var plainEnd = await client2.WaitForStateAsync(plain, TimeSpan.FromSeconds(60), "COMPLETED", "FAILED", "NODE_FAIL", "CANCELLED");
        if (plainOnVictim)
        {
            Assert.Equal("NODE_FAIL", plainEnd["state"]!.GetValue<string>());
            Assert.Equal("0:0", plainEnd["exit_code"]!.GetValue<string>());
            Assert.Contains($"node {victimNode} stopped responding", plainEnd["error_msg"]!.GetValue<string>(), StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("COMPLETED", plainEnd["state"]!.GetValue<string>());
        }

        var nodes = (await client1.GetFromJsonAsync<JsonNode>("/api/v1/nodes"))!.AsArray();
        Assert.Equal("DOWN", nodes.Single(n => n!["name"]!.GetValue<string>() == victimNode)!["state"]!.GetValue<string>());

        // (c) kill -9 of the scheduler leader: the other server takes the role and scheduling goes on.
        var leader = await server1.RoleAsync() == "leader" ? server1 : server2;
        var survivor = leader == server1 ? server2 : server1;
        using var survivorClient = survivor.Client(AdminToken);
        await leader.KillAsync();
        var failover = Stopwatch.StartNew();
        var after = await SubmitAsync(survivorClient, "#!/bin/bash\necho after the leader died\n", new { name = "after-failover" });
        var afterJob = await survivorClient.WaitForStateAsync(after, TimeSpan.FromSeconds(20), "COMPLETED", "FAILED");
        output.WriteLine($"killed leader {leader.Name}; job {after} submitted to {survivor.Name} COMPLETED {failover.Elapsed.TotalSeconds:0.0} s later");
        Assert.Equal("COMPLETED", afterJob["state"]!.GetValue<string>());
        Assert.Equal(survivorNode, afterJob["detail"]!["node_list"]!.GetValue<string>());
        Assert.Equal("leader", await survivor.RoleAsync());

        // (d) fencing: the surviving agent freezes past the node timeout; its node is declared DOWN and its requeue
        // job goes back to the queue while the job's process still runs. When the agent wakes, it stops that
        // stale process, registers again, and the job runs anew as attempt 2.
        var survivorAgent = survivorNode == "nodeA" ? agentA : agentB;
        // The first attempt outlives any detection delay (only the woken agent may end it); the second is quick.
        var fenced = await SubmitAsync(survivorClient, "#!/bin/bash\nif [ \"$SLURM_RESTART_COUNT\" = 0 ]; then sleep 120; else sleep 1; fi\n",
            new { name = "fenced", requeue = true });
        await WaitForLaunchedAsync(survivorClient, fenced);
        var stalePid = ClusterProcess.FindJobProcess(_root, fenced)!.Value;
        survivorAgent.Pause();
        try
        {
            await survivorClient.WaitForStateAsync(fenced, Soon, "PENDING");
            Assert.True(Processes.IsAlive(stalePid), "the job's process runs on while its agent is frozen");
        }
        finally
        {
            survivorAgent.Resume();
        }

        await Poll.UntilAsync(() => !Processes.IsAlive(stalePid), TimeSpan.FromSeconds(15), $"the stale process of job {fenced} to be stopped");
        var rerun = await survivorClient.WaitForStateAsync(fenced, Soon, "COMPLETED", "FAILED", "NODE_FAIL", "CANCELLED");
        Assert.Equal("COMPLETED", rerun["state"]!.GetValue<string>());
        Assert.Equal(2, rerun["attempt"]!.GetValue<int>());
        Assert.Contains("was declared down", survivorAgent.ReadLog(), StringComparison.Ordinal);
        output.WriteLine($"fencing: job {fenced}'s stale attempt was stopped after the agent woke; attempt 2 COMPLETED on {rerun["detail"]!["node_list"]}");

        // (e) fencing at restart: the agent is killed while its job's process lives on; the node is declared DOWN
        // and the job requeued. The agent started again kills the stale process before it runs the job anew.
        // The first attempt outlives any detection delay (only the restarted agent may end it); the second is quick.
        var orphaned = await SubmitAsync(survivorClient, "#!/bin/bash\nif [ \"$SLURM_RESTART_COUNT\" = 0 ]; then sleep 120; fi\n",
            new { name = "orphaned", requeue = true });
        await WaitForLaunchedAsync(survivorClient, orphaned);
        var orphanPid = ClusterProcess.FindJobProcess(_root, orphaned)!.Value;
        await survivorAgent.KillAsync();
        await survivorClient.WaitForStateAsync(orphaned, Soon, "PENDING");
        Assert.True(Processes.IsAlive(orphanPid), "the job's process outlives its killed agent");
        var restarted = StartAgent(survivorNode, environment);
        await Poll.UntilAsync(() => !Processes.IsAlive(orphanPid), Soon, $"the restarted agent to kill job {orphaned}'s stale process");
        var again = await survivorClient.WaitForStateAsync(orphaned, Soon, "COMPLETED", "FAILED", "NODE_FAIL", "CANCELLED");
        Assert.Equal("COMPLETED", again["state"]!.GetValue<string>());
        Assert.Equal(2, again["attempt"]!.GetValue<int>());
        Assert.Contains("no longer placed on this node", restarted.ReadLog(), StringComparison.Ordinal);
        output.WriteLine($"fencing at restart: job {orphaned}'s stale process killed by the restarted agent; attempt 2 COMPLETED");
    }

    /// <summary>Submits 8 one-CPU `sleep 2` jobs through both servers, waits for them, checks placement and overlap, and prints the figures.</summary>
    private async Task<List<string>> RunSpreadAsync(HttpClient client1, HttpClient client2, string label)
    {
        var watch = Stopwatch.StartNew();
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await SubmitAsync(i % 2 == 0 ? client1 : client2, "#!/bin/bash\necho \"ran on $SLURM_JOB_NODELIST\"\nsleep 2\n", new { name = $"spread{i}" }));
        }

        var jobs = new List<JsonNode>();
        foreach (var id in ids)
        {
            jobs.Add(await client1.WaitForStateAsync(id, Soon, "COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL"));
        }

        watch.Stop();
        Assert.All(jobs, j => Assert.Equal("COMPLETED", j["state"]!.GetValue<string>()));
        var placed = jobs.Select(j => (
            Node: j["detail"]!["node_list"]!.GetValue<string>(),
            Start: DateTimeOffset.Parse(j["time"]!["start"]!.GetValue<string>(), CultureInfo.InvariantCulture),
            End: DateTimeOffset.Parse(j["time"]!["end"]!.GetValue<string>(), CultureInfo.InvariantCulture))).ToList();
        var first = placed.Min(p => p.Start);
        var last = placed.Max(p => p.End);
        output.WriteLine($"{label}, 8 x sleep 2 on 2 nodes x 2 CPUs: all done {watch.Elapsed.TotalSeconds:0.00} s after the first submit; first start to last end {(last - first).TotalSeconds:0.00} s");
        foreach (var (p, j) in placed.Zip(jobs))
        {
            var submit = DateTimeOffset.Parse(j["time"]!["submit"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            output.WriteLine($"  job {j["job_id"]} on {p.Node}: submit +{(submit - first).TotalSeconds:0.000} s, start +{(p.Start - first).TotalSeconds:0.000} s, end +{(p.End - first).TotalSeconds:0.000} s");
        }

        foreach (var group in placed.GroupBy(p => p.Node))
        {
            output.WriteLine($"  {group.Key}: {group.Count()} jobs, at most {MaxOverlap(group)} at a time");
        }

        Assert.Equal(["nodeA", "nodeB"], placed.Select(p => p.Node).Distinct().Order());
        Assert.All(placed.GroupBy(p => p.Node), g => Assert.True(MaxOverlap(g) <= 2, $"{g.Key} ran {MaxOverlap(g)} jobs at once on 2 CPUs"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"8 x sleep 2 took {watch.Elapsed.TotalSeconds:0.0} s");
        return ids;
    }

    private ClusterProcess StartServer(string name, IReadOnlyDictionary<string, string> environment)
    {
        var port = ClusterProcess.FreePort();
        var process = ClusterProcess.Start(_root, name, environment, port,
            "server", "--db", _connectionString, "--listen", $"127.0.0.1:{port}", "--node-timeout", "3s");
        _processes.Add(process);
        return process;
    }

    private ClusterProcess StartAgent(string node, IReadOnlyDictionary<string, string> environment, ClusterProcess? server = null)
    {
        var process = ClusterProcess.Start(_root, node, environment, null,
            ["agent", "--db", _connectionString, "--node", node, "--cpus", "2", "--memory", "4G", "--heartbeat", "1s", "--kill-wait", "2s",
            .. server is null ? Array.Empty<string>() : ["--server", server.BaseAddress.ToString()]]);
        _processes.Add(process);
        return process;
    }

    private async Task<string> SubmitAsync(HttpClient client, string script, object job)
    {
        var spec = System.Text.Json.JsonSerializer.SerializeToNode(job)!.AsObject();
        spec["current_working_directory"] = Path.Combine(_root, "work");
        spec["cpus_per_task"] = 1;
        var response = await client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = spec, ["script"] = script });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"submit answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["job_id"]!.GetValue<string>();
    }

    /// <summary>Waits until the job runs with a process.</summary>
    private Task<JsonNode> WaitForLaunchedAsync(HttpClient client, string id) =>
        Poll.UntilAsync(() => client.GetJobAsync(id),
            j => j["state"]!.GetValue<string>() == "RUNNING" && ClusterProcess.FindJobProcess(_root, id) is not null, Soon, $"job {id} to run");

    private static int MaxOverlap(IEnumerable<(string Node, DateTimeOffset Start, DateTimeOffset End)> jobs)
    {
        var edges = jobs.SelectMany(j => new[] { (Time: j.Start, Delta: 1), (Time: j.End, Delta: -1) })
            .OrderBy(e => e.Time).ThenBy(e => e.Delta);
        int current = 0, max = 0;
        foreach (var (_, delta) in edges)
        {
            current += delta;
            max = Math.Max(max, current);
        }

        return max;
    }
}
