using System.CommandLine;
using System.Globalization;
using Conductor.Server.Api;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor nodes</c>: sinfo, one line a node.</summary>
public static class NodesCommand
{
    public static Command Create()
    {
        var json = ClientCommand.JsonOption();
        var server = ClientCommand.ServerOption();
        var command = new Command("nodes", "List nodes, like sinfo: partitions, state, CPUs allocated/idle/total, memory allocated/total, generic resources and GPUs in use, running jobs.")
        {
            json, server, Drain(), Resume(),
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var nodes = await client.GetAsync<List<NodeView>>("/api/v1/nodes", ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(Client.ConductorClient.Serialize(new { nodes }));
                return ExitCodes.Ok;
            }

            // The generic-resource columns appear when some node has any, as sinfo's GRES.
            var gres = nodes.Any(n => n.Gres is not null);
            string[] headers = gres
                ? ["NODELIST", "PARTITION", "STATE", "CPUS(A/I/T)", "MEMORY(A/T)", "GRES", "GPUS(A/T)", "JOBS", "REASON"]
                : ["NODELIST", "PARTITION", "STATE", "CPUS(A/I/T)", "MEMORY(A/T)", "JOBS", "REASON"];
            var table = ClientCommand.PlainTable(headers);
            foreach (var n in nodes)
            {
                var state = SinfoState(n);
                var cells = new List<Text>
                {
                    new(n.Name),
                    new(string.Join(',', n.Partitions)),
                    new(state, state is "idle" or "mixed" or "allocated" ? new Style(Color.Green) : state is "draining" or "drained" ? new Style(Color.Yellow) : new Style(Color.Red)),
                    new(string.Create(CultureInfo.InvariantCulture, $"{n.CpusAllocated}/{n.CpusIdle}/{n.Cpus}")),
                    new($"{Display.Mib(n.MemoryAllocatedMib)}/{Display.Mib(n.MemoryMib)}"),
                };
                if (gres)
                {
                    cells.Add(new(n.Gres ?? "(null)"));
                    cells.Add(new(string.Create(CultureInfo.InvariantCulture, $"{n.GpusAllocated}/{n.Gpus}")));
                }

                cells.Add(new(n.RunningJobs.ToString(CultureInfo.InvariantCulture)));
                cells.Add(new(n.Reason ?? ""));
                table.AddRow(cells.ToArray());
            }

            ClientCommand.Console().Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>conductor nodes drain NODE --reason TEXT</c> (admin): the node finishes what it runs and gets nothing new.</summary>
    private static Command Drain()
    {
        var node = new Argument<string>("node") { Description = "The node to drain.", HelpName = "NODE" };
        var reason = new Option<string>("--reason", "-r") { Description = "Why the node is drained; shown with its state.", HelpName = "TEXT", Required = true };
        var server = ClientCommand.ServerOption();
        var command = new Command("drain", "Drain a node (admin): it finishes the jobs it runs and is given no new ones, until resumed.") { node, reason, server };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var name = parse.GetValue(node)!;
            await client.PostAsync<NodeActionResponse>($"/api/v1/nodes/{Uri.EscapeDataString(name)}/drain", new DrainRequest(parse.GetValue(reason)), ct);
            Console.WriteLine($"Node {name} is draining: it gets no new jobs until 'conductor nodes resume {name}'");
            return ExitCodes.Ok;
        }, new Dictionary<string, string> { ["reason"] = "--reason" });
        return command;
    }

    /// <summary><c>conductor nodes resume NODE</c> (admin): the node takes jobs again.</summary>
    private static Command Resume()
    {
        var node = new Argument<string>("node") { Description = "The node to resume.", HelpName = "NODE" };
        var server = ClientCommand.ServerOption();
        var command = new Command("resume", "Resume a drained node (admin): it is given jobs again.") { node, server };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var name = parse.GetValue(node)!;
            await client.PostAsync<NodeActionResponse>($"/api/v1/nodes/{Uri.EscapeDataString(name)}/resume", null, ct);
            Console.WriteLine($"Node {name} resumed");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>sinfo's words: idle, mixed, allocated for a node that is up; draining, drained or its own state otherwise.</summary>
    private static string SinfoState(NodeView n) => n.State switch
    {
        "UP" when n.CpusAllocated == 0 => "idle",
        "UP" when n.CpusIdle == 0 => "allocated",
        "UP" => "mixed",
        _ => n.State.ToLowerInvariant(),
    };
}
