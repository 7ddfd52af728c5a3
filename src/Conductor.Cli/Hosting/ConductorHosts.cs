using System.Globalization;
using Conductor.Agent.Hosting;
using Conductor.Cli.Commands;
using Conductor.Server.Hosting;
using Conductor.Server.Jobs;
using Conductor.Server.Scheduling;
using Conductor.Storage.Postgres;
using Conductor.Storage.Sqlite;
using Microsoft.Extensions.Options;

namespace Conductor.Cli.Hosting;

/// <summary>What <c>conductor server</c> runs, its flags read and checked.</summary>
/// <param name="Database">A PostgreSQL connection string in cluster mode; null for the embedded SQLite file.</param>
/// <param name="LocalNode">The node of the local agent; null in cluster mode, where the server runs none.</param>
public sealed record ServerSetup(
    string DataDirectory,
    string Listen,
    bool NoAuth,
    string DefaultPartition,
    TimeSpan Retention,
    TimeSpan NodeTimeout,
    string? Database,
    NodeResources? LocalNode,
    bool Drain,
    Action<SchedulerOptions>? Scheduling = null,
    IReadOnlyList<Core.Scheduling.PartitionLimits>? Partitions = null)
{
    public bool Cluster => Database is not null;

    /// <summary>As root: the lowest uid a token's user may have.</summary>
    public int MinUid { get; init; } = 1000;

    /// <summary>Not as root: the tokens file's users deliberately share the server's Unix user.</summary>
    public bool SharedUnixUser { get; init; }

    /// <summary>PEM certificate and key files for HTTPS; null serves plain HTTP.</summary>
    public string? TlsCertificate { get; init; }

    public string? TlsKey { get; init; }

    /// <summary>Per-user limits of pending and running jobs and CPUs.</summary>
    public Core.Scheduling.UserLimits UserLimits { get; init; } = Core.Scheduling.UserLimits.None;

    public ServerOptions Paths => new() { DataDirectory = DataDirectory };

    public TimeSpan ShutdownTimeout => HostRun.ShutdownTimeout(Drain, LocalNode?.KillWait ?? TimeSpan.Zero);
}

/// <summary>What <c>conductor agent</c> runs, its flags read and checked.</summary>
public sealed record AgentSetup(string Database, NodeResources Node, string DataDirectory, TimeSpan Heartbeat, bool Drain)
{
    public string ScriptsDirectory => Path.Combine(DataDirectory, "scripts");

    public TimeSpan ShutdownTimeout => HostRun.ShutdownTimeout(Drain, Node.KillWait);
}

/// <summary>The composition of the long-running processes: the server (all-in-one or cluster) and a cluster's agent.</summary>
public static class ConductorHosts
{
    /// <summary>
    /// Everything a server runs: the API, the scheduler and retention, and either the embedded SQLite store with a
    /// local agent, or the PostgreSQL store with its wake-ups, leader election and the node watchdog.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string of a cluster server is not one.</exception>
    public static WebApplicationBuilder AddConductorServer(this WebApplicationBuilder builder, ServerSetup setup)
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{ServerOptions.SectionName}:DataDirectory"] = setup.DataDirectory,
            [$"{ServerOptions.SectionName}:Listen"] = setup.Listen,
            [$"{ServerOptions.SectionName}:NoAuth"] = setup.NoAuth.ToString(CultureInfo.InvariantCulture),
            [$"{ServerOptions.SectionName}:DefaultPartition"] = setup.DefaultPartition,
            [$"{ServerOptions.SectionName}:AdminToken"] = Environment.GetEnvironmentVariable(HostRun.AdminTokenVariable),
            [$"{ServerOptions.SectionName}:MinUid"] = setup.MinUid.ToString(CultureInfo.InvariantCulture),
            [$"{ServerOptions.SectionName}:SharedUnixUser"] = setup.SharedUnixUser.ToString(CultureInfo.InvariantCulture),
            [$"{ServerOptions.SectionName}:TlsCertificate"] = setup.TlsCertificate,
            [$"{ServerOptions.SectionName}:TlsKey"] = setup.TlsKey,
        });
        builder.Logging.AddConductorConsole();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Conductor.Server.Auth", LogLevel.Warning);

        var services = builder.Services;
        if (setup.Database is { } database)
        {
            services.AddConductorPostgresStorage(database);
            services.AddConductorPostgresWakeBus();
            services.AddConductorPostgresLeaderElection();
            services.AddConductorNodeWatchdog();
            services.Configure<NodeWatchdogOptions>(o => o.NodeTimeout = setup.NodeTimeout);
        }
        else
        {
            services.AddConductorSqliteStorage(setup.Paths.DatabasePath);
        }

        services.AddConductorApi();
        services.Configure<ServerOptions>(o => o.UserLimits = setup.UserLimits);
        if (setup.Partitions is { Count: > 0 } partitions)
        {
            services.Configure<ServerOptions>(o => o.Partitions = [.. partitions]);
        }

        services.AddConductorScheduler();
        if (setup.Scheduling is { } scheduling)
        {
            services.Configure(scheduling);
        }

        services.AddConductorRetention();
        services.Configure<RetentionOptions>(o => o.MaxAge = setup.Retention);
        if (setup.LocalNode is { } node)
        {
            services.AddConductorAgent(agent => node.ApplyTo(agent, setup.Paths.ScriptsDirectory, setup.Drain));
        }

        services.Configure<HostOptions>(o => o.ShutdownTimeout = setup.ShutdownTimeout);
        return builder;
    }

    /// <summary>Everything a cluster's agent runs: the PostgreSQL store and wake-ups, and the agent of its node.</summary>
    /// <exception cref="ArgumentException">The connection string is not one.</exception>
    public static HostApplicationBuilder AddConductorAgentNode(this HostApplicationBuilder builder, AgentSetup setup)
    {
        builder.Logging.AddConductorConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.AddConductorPostgresStorage(setup.Database);
        builder.Services.AddConductorPostgresWakeBus();
        builder.Services.AddConductorAgent(agent =>
        {
            setup.Node.ApplyTo(agent, setup.ScriptsDirectory, setup.Drain);
            agent.HeartbeatInterval = setup.Heartbeat;
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = setup.ShutdownTimeout);
        return builder;
    }

    /// <summary>The node's flags as the agent's options.</summary>
    public static void ApplyTo(this NodeResources node, AgentOptions agent, string scriptsDirectory, bool drain)
    {
        agent.NodeName = node.Node.Value;
        agent.Cpus = node.Cpus;
        agent.MemoryMiB = node.MemoryMiB;
        agent.Partitions = node.Partitions.ToList();
        agent.Gres = node.Gres.ToString();
        agent.GpuDeviceFiles = [.. node.GpuDeviceFiles ?? []];
        agent.ScriptsDirectory = scriptsDirectory;
        agent.ProtectedDirectories = Path.GetDirectoryName(Path.GetFullPath(scriptsDirectory)) is { } dataDirectory ? [dataDirectory] : [];
        agent.KillWait = node.KillWait;
        agent.Drain = drain;
    }
}

/// <summary>Starting and running a long-running process, with its start-up failures as one sentence and an exit code.</summary>
public static class HostRun
{
    /// <summary>The environment variable that gives the servers of a cluster one shared admin token.</summary>
    public const string AdminTokenVariable = "CONDUCTOR_ADMIN_TOKEN";

    /// <summary>Draining waits for the jobs themselves; otherwise stopping only has to let go of them.</summary>
    public static TimeSpan ShutdownTimeout(bool drain, TimeSpan killWait) => drain ? TimeSpan.FromDays(1) : killWait + TimeSpan.FromSeconds(20);

    /// <summary>
    /// Builds the host, reaches the cluster's database first when there is one (so a wrong address is one sentence,
    /// not a failed host start), starts it, logs <paramref name="banner"/>, and runs it until it is told to stop.
    /// </summary>
    public static async Task<int> RunAsync<THost>(Func<THost> build, bool cluster, string? listen, Action<THost>? prepare, Action<ILogger> banner)
        where THost : IHost
    {
        Commands.HostDefaults.ForbidInspection();
        THost host;
        try
        {
            host = build();
            if (cluster)
            {
                await host.Services.GetRequiredService<PostgresStore>().MigrateAsync();
            }

            prepare?.Invoke(host);
            await host.StartAsync();
        }
        catch (OptionsValidationException e)
        {
            return ExitCodes.Fail(ExitCodes.Usage, string.Join("; ", e.Failures) + ".");
        }
        catch (IOException e) when (listen is not null && e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            return ExitCodes.Fail(ExitCodes.Usage, $"cannot listen on {listen}: the address is already in use.");
        }
        catch (Exception e) when (cluster && DatabaseErrors.IsUnreachable(e))
        {
            return ExitCodes.Fail(ExitCodes.Unreachable, $"cannot use the database of --db: {DatabaseErrors.Describe(e)}");
        }

        banner(host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Conductor"));
        await host.WaitForShutdownAsync();
        if (host is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
        else
        {
            host.Dispose();
        }

        return ExitCodes.Ok;
    }
}
