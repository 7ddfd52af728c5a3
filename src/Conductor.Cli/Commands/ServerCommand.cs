using System.CommandLine;
using System.Globalization;
using Conductor.Agent.Hosting;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;
using Conductor.Server.Hosting;
using Conductor.Server.Jobs;
using Conductor.Server.Scheduling;
using Conductor.Storage.Postgres;
using Conductor.Storage.Sqlite;
using Microsoft.Extensions.Options;

namespace Conductor.Cli.Commands;

/// <summary>
/// <c>conductor server</c>: the all-in-one mode — API, scheduler and a local agent on an embedded SQLite file — or,
/// with <c>--db</c>, a cluster server on PostgreSQL: the API, and the scheduler and node watchdog while it holds the
/// scheduler role; the compute nodes run <c>conductor agent</c>.
/// </summary>
public static class ServerCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Directory for the database, the admin token and job scripts [$CONDUCTOR_DATA_DIR, else .conductor].",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CONDUCTOR_DATA_DIR") is { Length: > 0 } dir ? dir : ".conductor",
        };
        var listen = new Option<string>("--listen")
        {
            Description = "host:port to listen on. Loopback by default; any other address requires a token (always on unless --no-auth).",
            DefaultValueFactory = _ => "127.0.0.1:8642",
        };
        var nodeFlags = new NodeFlags("Comma-separated partitions of this node; the first is the default partition.");
        var noAuth = new Option<bool>("--no-auth")
        {
            Description = "Accept requests without a token. Only for trusted single-user machines; refused beyond loopback.",
        };
        var retention = new Option<string>("--retention")
        {
            Description = "How long ended jobs are kept before they are purged with their events, e.g. 30d or 12h (log files stay).",
            DefaultValueFactory = _ => "30d",
        };

        var db = new Option<string?>("--db")
        {
            Description = "Cluster mode: a PostgreSQL connection string, e.g. \"Host=db;Database=conductor;Username=conductor\". " +
                "The server then runs no local agent; each compute node runs 'conductor agent --db ...'.",
        };
        var nodeTimeout = new Option<string>("--node-timeout")
        {
            Description = "Cluster mode: a node whose agent sends no heartbeat for this long is marked DOWN, e.g. 30s or 2m.",
            DefaultValueFactory = _ => "30s",
        };

        var minUid = new Option<int>("--min-uid")
        {
            Description = "As root: the lowest uid whose jobs may run; tokens of users below it are refused [1000].",
            DefaultValueFactory = _ => 1000,
        };
        var sharedUnixUser = new Option<bool>("--shared-unix-user")
        {
            Description = "Not as root: accept a tokens file of other users although all their jobs run as this server's Unix user.",
        };

        var command = new Command("server", "Run the server: REST API, scheduler and a local agent on an embedded SQLite database, or with --db a cluster server on PostgreSQL.")
        {
            dataDir, listen, noAuth, retention, db, nodeTimeout, minUid, sharedUnixUser,
        };
        foreach (var option in nodeFlags.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) =>
        {
            var (resources, error) = nodeFlags.Resolve(parse);
            return resources is null
                ? Task.FromResult(ExitCodes.Fail(ExitCodes.Usage, error!))
                : RunAsync(new ServerSettings(
                    parse.GetValue(dataDir)!,
                    parse.GetValue(listen)!,
                    resources,
                    parse.GetValue(nodeFlags.Cpus) is not null || parse.GetValue(nodeFlags.Memory) is not null || parse.GetValue(nodeFlags.Node) is not null,
                    parse.GetValue(noAuth),
                    parse.GetValue(nodeFlags.Drain),
                    parse.GetValue(retention)!,
                    parse.GetValue(db),
                    parse.GetValue(nodeTimeout)!,
                    parse.GetValue(minUid),
                    parse.GetValue(sharedUnixUser)));
        });
        return command;
    }

    /// <summary>The environment variable that gives the servers of a cluster one shared admin token.</summary>
    public const string AdminTokenVariable = "CONDUCTOR_ADMIN_TOKEN";

    private sealed record ServerSettings(
        string DataDirectory, string Listen, NodeResources Resources, bool NodeGiven, bool NoAuth, bool Drain, string Retention,
        string? Database, string NodeTimeout, int MinUid, bool SharedUnixUser);

    private static async Task<int> RunAsync(ServerSettings s)
    {
        var nodeName = s.Resources.Node.Value;
        var memoryMiB = s.Resources.MemoryMiB;
        var partitionList = s.Resources.Partitions.ToList();
        var killWait = s.Resources.KillWait;

        if (!TryParseAge(s.Retention, out var retentionAge))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"--retention '{s.Retention}' is not an age; use days such as 30d, or hours such as 12h.");
        }

        if (!TryParseDuration(s.NodeTimeout, out var nodeTimeout) || nodeTimeout < TimeSpan.FromSeconds(1))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"--node-timeout '{s.NodeTimeout}' is not a duration of at least one second; use seconds such as 30s, or minutes such as 2m.");
        }

        var cluster = s.Database is not null;
        if (cluster && string.IsNullOrWhiteSpace(s.Database))
        {
            return ExitCodes.Fail(ExitCodes.Usage, "--db needs a PostgreSQL connection string, e.g. \"Host=db;Database=conductor;Username=conductor\".");
        }

        if (cluster && (s.NodeGiven || s.Drain))
        {
            return ExitCodes.Fail(ExitCodes.Usage,
                "--cpus, --memory, --node and --drain describe this machine's agent, and with --db the server runs none; give them to 'conductor agent' on each node.");
        }

        var dataDirectory = Path.GetFullPath(s.DataDirectory);
        if (HostDefaults.CreateDataDirectory(dataDirectory, withDatabase: !cluster) is { } directoryError)
        {
            return ExitCodes.Fail(ExitCodes.Usage, directoryError);
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = "Conductor",
        });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{ServerOptions.SectionName}:DataDirectory"] = dataDirectory,
            [$"{ServerOptions.SectionName}:Listen"] = s.Listen,
            [$"{ServerOptions.SectionName}:NoAuth"] = s.NoAuth.ToString(CultureInfo.InvariantCulture),
            [$"{ServerOptions.SectionName}:DefaultPartition"] = partitionList[0],
            [$"{ServerOptions.SectionName}:AdminToken"] = Environment.GetEnvironmentVariable(AdminTokenVariable),
            [$"{ServerOptions.SectionName}:MinUid"] = s.MinUid.ToString(CultureInfo.InvariantCulture),
            [$"{ServerOptions.SectionName}:SharedUnixUser"] = s.SharedUnixUser.ToString(CultureInfo.InvariantCulture),
        });
        builder.Logging.AddConductorConsole();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Conductor.Server.Auth", LogLevel.Warning);

        var serverOptions = new ServerOptions { DataDirectory = dataDirectory };
        if (cluster)
        {
            try
            {
                builder.Services.AddConductorPostgresStorage(s.Database!);
            }
            catch (ArgumentException e)
            {
                return ExitCodes.Fail(ExitCodes.Usage, $"--db: {e.Message}");
            }

            builder.Services.AddConductorPostgresWakeBus();
            builder.Services.AddConductorPostgresLeaderElection();
        }
        else
        {
            builder.Services.AddConductorSqliteStorage(serverOptions.DatabasePath);
        }

        builder.Services.AddConductorApi();
        builder.Services.AddConductorScheduler();
        builder.Services.AddConductorRetention();
        builder.Services.Configure<RetentionOptions>(o => o.MaxAge = retentionAge);
        if (cluster)
        {
            builder.Services.AddConductorNodeWatchdog();
            builder.Services.Configure<NodeWatchdogOptions>(o => o.NodeTimeout = nodeTimeout);
        }
        else
        {
            builder.Services.AddConductorAgent(agent =>
            {
                agent.NodeName = nodeName;
                agent.Cpus = s.Resources.Cpus;
                agent.MemoryMiB = memoryMiB;
                agent.Partitions = partitionList;
                agent.ScriptsDirectory = serverOptions.ScriptsDirectory;
                agent.ProtectedDirectories = [dataDirectory];
                agent.KillWait = killWait;
                agent.Drain = s.Drain;
            });
        }

        // Draining waits for the jobs themselves; otherwise stopping only has to let go of them.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = s.Drain ? TimeSpan.FromDays(1) : killWait + TimeSpan.FromSeconds(20));

        WebApplication app;
        try
        {
            app = builder.Build();
            if (cluster)
            {
                // Reach the database first, so that a wrong address is one sentence, not a failed host start.
                await app.Services.GetRequiredService<PostgresStore>().MigrateAsync();
            }

            app.MapConductorApi();
            await app.StartAsync();
        }
        catch (OptionsValidationException e)
        {
            return ExitCodes.Fail(ExitCodes.Usage, string.Join("; ", e.Failures) + ".");
        }
        catch (IOException e) when (e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"cannot listen on {s.Listen}: the address is already in use.");
        }
        catch (Exception e) when (cluster && DatabaseErrors.IsUnreachable(e))
        {
            return ExitCodes.Fail(ExitCodes.Unreachable, $"cannot use the database of --db: {DatabaseErrors.Describe(e)}");
        }

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Conductor");
        if (cluster)
        {
            log.LogInformation(
                "Conductor is serving http://{Listen} in cluster mode on PostgreSQL database {Database}; node timeout {NodeTimeout}; {Auth}",
                s.Listen, DatabaseErrors.DatabaseName(s.Database!), nodeTimeout,
                s.NoAuth ? "no token required" : $"admin token in {serverOptions.AdminTokenPath}");
            await app.WaitForShutdownAsync();
            await app.DisposeAsync();
            return ExitCodes.Ok;
        }

        log.LogInformation(
            "Conductor is serving http://{Listen} for node {Node} ({Cpus} CPUs, {Memory}); data in {DataDirectory}; {Auth}",
            s.Listen, nodeName, s.Resources.Cpus, MemorySize.Format(memoryMiB), dataDirectory,
            s.NoAuth ? "no token required" : $"admin token in {serverOptions.AdminTokenPath}");
        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return ExitCodes.Ok;
    }

    /// <summary>Seconds ("10", "10s") or minutes ("1m").</summary>
    /// <summary>Days ("30d") or hours ("12h").</summary>
    internal static bool TryParseAge(string text, out TimeSpan value)
    {
        value = default;
        var s = text.Trim().ToLowerInvariant();
        if (s.Length < 2 || !int.TryParse(s[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            return false;
        }

        value = s[^1] switch
        {
            'd' when number <= 3650 => TimeSpan.FromDays(number),
            'h' when number <= 87600 => TimeSpan.FromHours(number),
            _ => TimeSpan.Zero,
        };
        return value > TimeSpan.Zero;
    }

    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        var s = text.Trim().ToLowerInvariant();
        var scale = 1.0;
        if (s.EndsWith("ms", StringComparison.Ordinal))
        {
            scale = 0.001;
            s = s[..^2];
        }
        else if (s.EndsWith('s'))
        {
            s = s[..^1];
        }
        else if (s.EndsWith('m'))
        {
            scale = 60;
            s = s[..^1];
        }

        if (!double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number * scale > 3600)
        {
            return false;
        }

        value = TimeSpan.FromSeconds(number * scale);
        return true;
    }
}
