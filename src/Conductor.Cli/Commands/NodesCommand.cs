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
        var command = new Command("nodes", "List nodes, like sinfo: partitions, state, CPUs allocated/idle/total, memory allocated/total, running jobs.")
        {
            json, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var nodes = await client.GetAsync<List<NodeView>>("/api/v1/nodes", ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(Client.ConductorClient.Serialize(new { nodes }));
                return ExitCodes.Ok;
            }

            var table = ClientCommand.PlainTable("NODELIST", "PARTITION", "STATE", "CPUS(A/I/T)", "MEMORY(A/T)", "JOBS", "REASON");
            foreach (var n in nodes)
            {
                var state = SinfoState(n);
                table.AddRow(
                    new Text(n.Name),
                    new Text(string.Join(',', n.Partitions)),
                    new Text(state, state is "idle" or "mixed" or "allocated" ? new Style(Color.Green) : new Style(Color.Red)),
                    new Text(string.Create(CultureInfo.InvariantCulture, $"{n.CpusAllocated}/{n.CpusIdle}/{n.Cpus}")),
                    new Text($"{Display.Mib(n.MemoryAllocatedMib)}/{Display.Mib(n.MemoryMib)}"),
                    new Text(n.RunningJobs.ToString(CultureInfo.InvariantCulture)),
                    new Text(n.Reason ?? ""));
            }

            ClientCommand.Console().Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>sinfo's words: idle, mixed, allocated for a node that is up; its own state otherwise.</summary>
    private static string SinfoState(NodeView n) => n.State switch
    {
        "UP" when n.CpusAllocated == 0 => "idle",
        "UP" when n.CpusIdle == 0 => "allocated",
        "UP" => "mixed",
        _ => n.State.ToLowerInvariant(),
    };
}
