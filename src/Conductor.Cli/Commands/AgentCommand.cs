using System.CommandLine;
using Conductor.Agent.Hosting;
using Conductor.Cli.Hosting;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;

namespace Conductor.Cli.Commands;

/// <summary>
/// <c>conductor agent</c>: the compute-node agent of a cluster. It talks only to the PostgreSQL database that the
/// servers share — registers its node, heartbeats, runs the jobs the scheduler places on it, reports their ends —
/// and needs no token and no listening port.
/// </summary>
public static class AgentCommand
{
    public static Command Create()
    {
        var db = new Option<string>("--db")
        {
            Description = "The cluster's PostgreSQL connection string, the same as the servers', e.g. \"Host=db;Database=conductor;Username=conductor\".",
        };
        var dbFile = DatabaseSource.FileOption();
        var nodeFlags = new NodeFlags("Comma-separated partitions of this node.");
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Directory for this agent's job scripts.",
            DefaultValueFactory = _ => ".conductor-agent",
        };
        var heartbeat = new Option<string>("--heartbeat")
        {
            Description = "How often the agent tells the database it is alive, e.g. 5s; keep it well under the servers' --node-timeout.",
            DefaultValueFactory = _ => "5s",
        };

        var server = new Option<string?>("--server")
        {
            Description = "The API address that Slurm's commands in jobs (sbatch, squeue, srun...) talk to, e.g. https://head:8642; they are written into the data directory's bin and put on every job's PATH.",
        };

        var command = new Command("agent", "Run the agent of one compute node of a cluster: it runs the jobs the scheduler places on this node.")
        {
            db, dbFile, dataDir, heartbeat, server,
        };
        foreach (var option in nodeFlags.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) =>
        {
            var (resources, error) = nodeFlags.Resolve(parse);
            var (database, databaseError) = DatabaseSource.Resolve(parse.GetValue(db), parse.GetValue(dbFile));
            if (databaseError is not null)
            {
                return Task.FromResult(ExitCodes.Fail(ExitCodes.Usage, databaseError));
            }

            return resources is null
                ? Task.FromResult(ExitCodes.Fail(ExitCodes.Usage, error!))
                : RunAsync(new AgentSettings(
                    database ?? "",
                    resources,
                    parse.GetValue(dataDir)!,
                    parse.GetValue(heartbeat)!,
                    parse.GetValue(nodeFlags.Drain),
                    parse.GetValue(server)));
        });
        return command;
    }

    private sealed record AgentSettings(string Database, NodeResources Resources, string DataDirectory, string Heartbeat, bool Drain, string? Server);

    private static async Task<int> RunAsync(AgentSettings s)
    {
        if (string.IsNullOrWhiteSpace(s.Database))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"the agent needs the cluster's PostgreSQL connection string: --db \"Host=db;Database=conductor;Username=conductor\", --db-file FILE or {DatabaseSource.Variable}.");
        }

        if (!ServerCommand.TryParseDuration(s.Heartbeat, out var heartbeat) || heartbeat < TimeSpan.FromMilliseconds(100))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"--heartbeat '{s.Heartbeat}' is not a duration of at least 100ms; use seconds such as 5s.");
        }

        var dataDirectory = Path.GetFullPath(s.DataDirectory);
        if (HostDefaults.CreateDataDirectory(dataDirectory) is { } directoryError)
        {
            return ExitCodes.Fail(ExitCodes.Usage, directoryError);
        }

        Uri? serverUrl = null;
        if (s.Server is { } serverText && (!Uri.TryCreate(serverText, UriKind.Absolute, out serverUrl) || serverUrl.Scheme is not ("http" or "https")))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"--server '{serverText}' is not the address of a server; use a URL such as https://head:8642.");
        }

        var setup = new AgentSetup(s.Database, s.Resources, dataDirectory, heartbeat, s.Drain);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = "Conductor",
        });
        try
        {
            builder.AddConductorAgentNode(setup);
        }
        catch (ArgumentException e)
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"--db: {e.Message}");
        }

        if (serverUrl is not null)
        {
            var commands = ServerCommand.WriteSlurmCommands(dataDirectory, serverUrl.ToString().TrimEnd('/'), withDataDirectory: false);
            builder.Services.Configure<AgentOptions>(o => o.CommandsDirectory = commands);
        }

        var node = setup.Node;
        return await HostRun.RunAsync(builder.Build, cluster: true, listen: null, prepare: null, log => log.LogInformation(
            "Conductor agent of node {Node} ({Cpus} CPUs, {Memory}, partitions {Partitions}) on database {Database}; job scripts in {DataDirectory}",
            node.Node, node.Cpus, MemorySize.Format(node.MemoryMiB), string.Join(',', node.Partitions),
            DatabaseErrors.DatabaseName(setup.Database), dataDirectory));
    }
}
