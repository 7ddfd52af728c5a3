using System.Text.Json.Nodes;
using Conductor.EndToEnd.Tests.Slurm;

namespace Conductor.EndToEnd.Tests;

/// <summary>Draining and resuming a node, on a server of its own: a drained node would stall other tests.</summary>
public sealed class NodeDrainTests : IAsyncLifetime
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);
    private ServerProcess _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerProcess.StartAsync("--cpus", "1", "--memory", "2G", "--kill-wait", "1s");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Cli NewCli()
    {
        var dir = Path.Combine(_server.WorkDirectory, Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return new Cli(_server, dir);
    }

    private async Task<JsonNode> JobAsync(string id)
    {
        using var client = _server.CreateClient();
        return JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!;
    }

    private async Task<JsonNode> NodeAsync()
    {
        using var client = _server.CreateClient();
        return JsonNode.Parse(await client.GetStringAsync("/api/v1/nodes"))!.AsArray().Single()!;
    }

    [Fact]
    public async Task Drain_LetsTheRunningJobFinish_KeepsNewOnesPendingWithTheNodeNamed_UntilResume()
    {
        var cli = NewCli();
        var node = (await NodeAsync())["name"]!.GetValue<string>();
        var first = (await cli.RunAsync("submit", "--parsable", "--time", "5", "--wrap", "sleep 60")).Stdout.Trim();
        await Poll.UntilAsync(() => JobAsync(first), j => j["state"]!.GetValue<string>() == "RUNNING", Soon, "the first job to run");

        var drain = await cli.RunAsync("nodes", "drain", node, "--reason", "disk swap");

        Assert.True(drain.Code == 0, drain.ToString());
        var view = await NodeAsync();
        Assert.Equal(("DRAINING", "disk swap"), (view["state"]!.GetValue<string>(), view["reason"]!.GetValue<string>()));
        var second = (await cli.RunAsync("submit", "--parsable", "--wrap", "true")).Stdout.Trim();
        Assert.Equal(0, (await cli.RunAsync("cancel", first)).Code);
        await Poll.UntilAsync(NodeAsync, n => n["state"]!.GetValue<string>() == "DRAINED", Soon, "the node to be drained");
        var waiting = await Poll.UntilAsync(() => JobAsync(second), j => j["reason"]?.GetValue<string>()?.StartsWith("ReqNodeNotAvail", StringComparison.Ordinal) == true,
            Soon, "the new job to wait for the drained node");
        Assert.Equal($"ReqNodeNotAvail, UnavailableNodes:{node}", waiting["reason"]!.GetValue<string>());

        var nodes = await cli.RunAsync("nodes");
        Assert.Contains(nodes.Stdout.Split('\n'), l => l.Contains("drained", StringComparison.Ordinal) && l.Contains("disk swap", StringComparison.Ordinal));
        var sh = await SlurmShell.CreateAsync(_server, cli.WorkDir);
        Assert.Contains("State=IDLE+DRAIN ", (await sh.RunAsync($"scontrol show node {node}")).Stdout, StringComparison.Ordinal);
        Assert.Contains($"Reason=disk swap [{Environment.UserName}@", (await sh.RunAsync($"scontrol show node {node}")).Stdout, StringComparison.Ordinal);
        Assert.Matches($@"^disk swap\s+{Environment.UserName}\s+\S+\s+{node}\n$", (await sh.RunAsync("sinfo -R -h")).Stdout);
        Assert.Contains(" drain ", (await sh.RunAsync("sinfo -h")).Stdout, StringComparison.Ordinal);

        var resume = await sh.RunAsync($"scontrol update NodeName={node} State=RESUME");
        Assert.True(resume.Code == 0 && resume.Stderr == "", resume.ToString());
        await Poll.UntilAsync(() => JobAsync(second), j => j["state"]!.GetValue<string>() == "COMPLETED", Soon, "the waiting job to run after resume");
        Assert.Equal("UP", (await NodeAsync())["state"]!.GetValue<string>());
        var again = await sh.RunAsync($"scontrol update NodeName={node} State=DRAIN Reason=maintenance");
        Assert.True(again.Code == 0 && (await NodeAsync())["reason"]!.GetValue<string>() == "maintenance", again.ToString());
        Assert.Equal(0, (await cli.RunAsync("nodes", "resume", node)).Code);
    }
}
