using System.CommandLine;
using System.Globalization;
using Conductor.Agent.Hosting;
using Conductor.Cli.Hosting;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;
using Conductor.Server.Hosting;
using Conductor.Server.Scheduling;

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
        var dbFile = DatabaseSource.FileOption();
        var nodeTimeout = new Option<string>("--node-timeout")
        {
            Description = "Cluster mode: a node whose agent sends no heartbeat for this long is marked DOWN, e.g. 30s or 2m.",
            DefaultValueFactory = _ => "30s",
        };

        var partitionLimits = new Option<string[]>("--partition-limits")
        {
            Description = "Limits of a partition, as a slurm.conf line: 'gpu DefaultTime=1:00:00 MaxTime=1-00:00:00 AllowAccounts=physics,chemistry " +
                "PriorityTier=2 Exclusive=yes'. Once per partition.",
            HelpName = "LINE",
            AllowMultipleArgumentsPerToken = false,
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

        var tlsCert = new Option<string?>("--tls-cert")
        {
            Description = "A PEM certificate file: serve HTTPS. Needed to listen beyond loopback without sending tokens in clear.",
        };
        var tlsKey = new Option<string?>("--tls-key") { Description = "The PEM private key of --tls-cert." };

        var maxPending = new Option<int?>("--max-pending-per-user")
        {
            Description = "The most pending jobs one user may have; a submit beyond it is refused (429) [no limit].",
            HelpName = "N",
        };
        var maxRunning = new Option<int?>("--max-running-per-user")
        {
            Description = "The most running jobs one user may have; the rest wait with reason QOSMaxJobsPerUserLimit [no limit].",
            HelpName = "N",
        };
        var maxCpus = new Option<int?>("--max-cpus-per-user")
        {
            Description = "The most CPUs one user's running jobs may hold; the rest wait with reason QOSMaxCpuPerUserLimit [no limit].",
            HelpName = "N",
        };
        var userLimits = new Option<string[]>("--user-limits")
        {
            Description = "One user's own limits over the defaults above: 'alice MaxPending=500 MaxRunning=20 MaxCpus=64' (UNLIMITED lifts one). Once per user.",
            HelpName = "LINE",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("server", "Run the server: REST API, scheduler and a local agent on an embedded SQLite database, or with --db a cluster server on PostgreSQL.")
        {
            dataDir, listen, noAuth, retention, db, dbFile, nodeTimeout, partitionLimits, minUid, sharedUnixUser, tlsCert, tlsKey,
            maxPending, maxRunning, maxCpus, userLimits,
        };
        var schedulerFlags = new SchedulerFlags();
        foreach (var option in nodeFlags.All.Concat(schedulerFlags.All))
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

            var (scheduling, schedulingError) = schedulerFlags.Resolve(parse);
            var partitions = new List<PartitionLimits>();
            foreach (var line in parse.GetValue(partitionLimits) ?? [])
            {
                if (!PartitionLimits.TryParse(line, out var limits, out var limitsError))
                {
                    return Task.FromResult(ExitCodes.Fail(ExitCodes.Usage, $"--partition-limits {limitsError}."));
                }

                partitions.Add(limits);
            }

            var (perUser, perUserError) = ReadUserLimits(parse.GetValue(maxPending), parse.GetValue(maxRunning), parse.GetValue(maxCpus), parse.GetValue(userLimits) ?? []);
            if (perUser is null)
            {
                return Task.FromResult(ExitCodes.Fail(ExitCodes.Usage, perUserError!));
            }

            return resources is null || scheduling is null
                ? Task.FromResult(ExitCodes.Fail(ExitCodes.Usage, (error ?? schedulingError)!))
                : RunAsync(new ServerSettings(
                    parse.GetValue(dataDir)!,
                    parse.GetValue(listen)!,
                    resources,
                    parse.GetValue(nodeFlags.Cpus) is not null || parse.GetValue(nodeFlags.Memory) is not null || parse.GetValue(nodeFlags.Node) is not null ||
                        parse.GetValue(nodeFlags.Gres) is not null,
                    parse.GetValue(noAuth),
                    parse.GetValue(nodeFlags.Drain),
                    parse.GetValue(retention)!,
                    database,
                    parse.GetValue(nodeTimeout)!,
                    scheduling,
                    partitions,
                    parse.GetValue(minUid),
                    parse.GetValue(sharedUnixUser),
                    parse.GetValue(tlsCert),
                    parse.GetValue(tlsKey),
                    perUser));
        });
        return command;
    }

    private sealed record ServerSettings(
        string DataDirectory, string Listen, NodeResources Resources, bool NodeGiven, bool NoAuth, bool Drain, string Retention,
        string? Database, string NodeTimeout, Action<SchedulerOptions> Scheduling, IReadOnlyList<PartitionLimits> Partitions,
        int MinUid, bool SharedUnixUser, string? TlsCert, string? TlsKey, UserLimits UserLimits);

    /// <summary>The per-user limits of the flags, or the sentence that says which one is wrong.</summary>
    internal static (UserLimits? Limits, string? Error) ReadUserLimits(int? maxPending, int? maxRunning, int? maxCpus, IEnumerable<string> lines)
    {
        foreach (var (name, value) in new[] { ("--max-pending-per-user", maxPending), ("--max-running-per-user", maxRunning), ("--max-cpus-per-user", maxCpus) })
        {
            if (value < 0)
            {
                return (null, $"{name} must be a whole number of at least 0.");
            }
        }

        var defaults = new UserLimit(maxPending, maxRunning, maxCpus);
        var overrides = new Dictionary<string, UserLimit>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            if (!UserLimits.TryParseOverride(line, defaults, out var user, out var limit, out var error))
            {
                return (null, $"--user-limits {error}.");
            }

            overrides[user] = limit;
        }

        return (new UserLimits(defaults, overrides), null);
    }

    /// <summary>The flags checked and made a <see cref="ServerSetup"/>, or the sentence that says what is wrong.</summary>
    private static (ServerSetup? Setup, string? Error) Check(ServerSettings s)
    {
        if (!TryParseAge(s.Retention, out var retention))
        {
            return (null, $"--retention '{s.Retention}' is not an age; use days such as 30d, or hours such as 12h.");
        }

        if (!TryParseDuration(s.NodeTimeout, out var nodeTimeout) || nodeTimeout < TimeSpan.FromSeconds(1))
        {
            return (null, $"--node-timeout '{s.NodeTimeout}' is not a duration of at least one second; use seconds such as 30s, or minutes such as 2m.");
        }

        var cluster = s.Database is not null;
        if (cluster && string.IsNullOrWhiteSpace(s.Database))
        {
            return (null, "--db needs a PostgreSQL connection string, e.g. \"Host=db;Database=conductor;Username=conductor\".");
        }

        if (cluster && (s.NodeGiven || s.Drain))
        {
            return (null, "--cpus, --memory, --node, --gres and --drain describe this machine's agent, and with --db the server runs none; give them to 'conductor agent' on each node.");
        }

        var dataDirectory = Path.GetFullPath(s.DataDirectory);
        if (HostDefaults.CreateDataDirectory(dataDirectory, withDatabase: !cluster) is { } directoryError)
        {
            return (null, directoryError);
        }

        return (new ServerSetup(dataDirectory, s.Listen, s.NoAuth, s.Resources.Partitions[0], retention, nodeTimeout, s.Database,
            cluster ? null : s.Resources, s.Drain, s.Scheduling, s.Partitions)
        {
            MinUid = s.MinUid,
            SharedUnixUser = s.SharedUnixUser,
            TlsCertificate = s.TlsCert is null ? null : Path.GetFullPath(s.TlsCert),
            TlsKey = s.TlsKey is null ? null : Path.GetFullPath(s.TlsKey),
            UserLimits = s.UserLimits,
        }, null);
    }

    private static async Task<int> RunAsync(ServerSettings settings)
    {
        var (setup, error) = Check(settings);
        if (setup is null)
        {
            return ExitCodes.Fail(ExitCodes.Usage, error!);
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = "Conductor",
        });
        try
        {
            builder.AddConductorServer(setup);
        }
        catch (ArgumentException e)
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"--db: {e.Message}");
        }

        if (setup.LocalNode is not null)
        {
            var commands = WriteSlurmCommands(setup.DataDirectory, ListenUrl(setup.Listen), withDataDirectory: true);
            builder.Services.Configure<AgentOptions>(o => o.CommandsDirectory = commands);
        }

        var auth = (setup.NoAuth ? "no token required" : $"admin token in {setup.Paths.AdminTokenPath}") +
            $"; local users connect to {setup.Paths.SocketPath} without one";
        return await HostRun.RunAsync(builder.Build, setup.Cluster, setup.Listen, app => app.MapConductorApi(), log =>
        {
            if (setup.LocalNode is { } node)
            {
                log.LogInformation(
                    "Conductor is serving http://{Listen} for node {Node} ({Cpus} CPUs, {Memory}); data in {DataDirectory}; {Auth}",
                    setup.Listen, node.Node, node.Cpus, MemorySize.Format(node.MemoryMiB), setup.DataDirectory, auth);
            }
            else
            {
                log.LogInformation(
                    "Conductor is serving http://{Listen} in cluster mode on PostgreSQL database {Database}; node timeout {NodeTimeout}; {Auth}",
                    setup.Listen, DatabaseErrors.DatabaseName(setup.Database!), setup.NodeTimeout, auth);
            }
        });
    }

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

    /// <summary>Milliseconds ("500ms"), seconds ("10", "10s") or minutes ("1m"), up to an hour.</summary>
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

    /// <summary>The address local clients reach a server listening on <paramref name="listen"/> at.</summary>
    private static string ListenUrl(string listen) =>
        !ListenAddress.TryParse(listen, out var address, out _) ? $"http://{listen}"
            : address.IsLoopback || !address.Address.Equals(System.Net.IPAddress.Any) ? address.Url
            : $"http://127.0.0.1:{address.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Writes Slurm's commands into the data directory's <c>bin</c>, defaulting to the server at
    /// <paramref name="url"/> (and to the token in the data directory, for a server's own node), so that jobs find
    /// sbatch, squeue, srun... on their PATH. Null when they could not be written (jobs run anyway).
    /// </summary>
    internal static string? WriteSlurmCommands(string dataDirectory, string url, bool withDataDirectory)
    {
        var directory = Path.Combine(dataDirectory, "bin");
        try
        {
            Slurm.SlurmCommands.WriteLaunchers(directory, url, withDataDirectory ? dataDirectory : null);
            return directory;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"conductor: jobs will not find Slurm's commands: cannot write them into {directory}: {e.Message.TrimEnd('.')}.");
            return null;
        }
    }
}
