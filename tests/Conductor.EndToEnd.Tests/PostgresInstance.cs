using System.Diagnostics;
using Npgsql;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// A PostgreSQL server of a test's own, on a free loopback port, from the machine's server binaries (Debian's
/// <c>postgresql</c> package): for tests that stop and restart the database under a running cluster. As root it runs
/// as the <c>postgres</c> user, as PostgreSQL requires. Removed with its files when disposed.
/// </summary>
public sealed class PostgresInstance : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _root;

    private PostgresInstance(string bin, string root, int port)
    {
        _bin = bin;
        _root = root;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(_root, "data");

    /// <summary>A connection string to <paramref name="database"/> on this server.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "conductor", Database = database }.ConnectionString;

    /// <summary>The directory of initdb and pg_ctl, or null when the server binaries are not installed.</summary>
    public static string? FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d, StringComparer.Ordinal).Select(d => Path.Combine(d, "bin"))
            : [];
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    /// <summary>Why tests that need their own server cannot run here, or null (always null where CONDUCTOR_REQUIRE_POSTGRES=1: then they fail).</summary>
    public static string? SkipReason =>
        Environment.GetEnvironmentVariable("CONDUCTOR_REQUIRE_POSTGRES") == "1" ? null :
        FindBinaries() is null ? "PostgreSQL server binaries (Debian package 'postgresql') are not installed, so no server of the test's own can be started" :
        Environment.UserName == "root" && !UserExists("postgres") ? "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as" :
        null;

    public static async Task<PostgresInstance> StartAsync()
    {
        var bin = FindBinaries() ?? throw new InvalidOperationException(SkipReason);
        var root = Path.Combine(Path.GetTempPath(), "conductor-pg-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var instance = new PostgresInstance(bin, root, ClusterProcess.FreePort());
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", "postgres:", root);
        }

        await instance.AsOwnerAsync("initdb", "-D", instance.DataDirectory, "-U", "conductor", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync");
        await instance.StartServerAsync();
        return instance;
    }

    /// <summary>Stops the server (fast: open sessions are ended) and starts it again on the same port.</summary>
    public async Task RestartAsync()
    {
        await AsOwnerAsync("pg_ctl", "stop", "-D", DataDirectory, "-m", "fast", "-w", "-s");
        await StartServerAsync();
    }

    public Task StopAsync() => AsOwnerAsync("pg_ctl", "stop", "-D", DataDirectory, "-m", "fast", "-w", "-s");

    public Task StartServerAsync() => AsOwnerAsync("pg_ctl", "start", "-D", DataDirectory, "-w", "-t", "60", "-s",
        "-l", Path.Combine(_root, "server.log"),
        "-o", $"-p {Port} -c listen_addresses=127.0.0.1 -k {_root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200");

    public async Task<string> CreateDatabaseAsync()
    {
        var name = "conductor_e2e_" + Guid.NewGuid().ToString("N");
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8';", connection);
        await create.ExecuteNonQueryAsync();
        return name;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await AsOwnerAsync("pg_ctl", "stop", "-D", DataDirectory, "-m", "immediate", "-w", "-s");
        }
        catch (InvalidOperationException)
        {
            // already stopped
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private Task AsOwnerAsync(string tool, params string[] args) =>
        Environment.UserName == "root"
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args])
            : RunAsync(Path.Combine(_bin, tool), args);

    private static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {await stdout}{await stderr}");
        }
    }

    private static bool UserExists(string name) =>
        File.ReadLines("/etc/passwd").Any(line => line.StartsWith(name + ":", StringComparison.Ordinal));
}

/// <summary>A fact that needs a PostgreSQL server of its own: reported as skipped, with the reason, where none can be started.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class OwnPostgresFactAttribute : FactAttribute
{
    public OwnPostgresFactAttribute()
    {
        if (PostgresInstance.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
