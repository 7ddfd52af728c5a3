using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Npgsql;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// One process of a test cluster — a `conductor server --db` or a `conductor agent --db` — with its output in a
/// log file, stopped with SIGTERM or killed with SIGKILL.
/// </summary>
public sealed partial class ClusterProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ClusterProcess(Process process, StreamWriter log, string name, string dataDirectory, string logPath, int? port)
    {
        _process = process;
        _log = log;
        Name = name;
        DataDirectory = dataDirectory;
        LogPath = logPath;
        Port = port;
    }

    public string Name { get; }
    public string DataDirectory { get; }
    public string LogPath { get; }
    public int? Port { get; }
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Starts `conductor ARGS --data-dir ROOT/NAME`; a second process of the same name (a restart) logs to a file of its own.</summary>
    public static ClusterProcess Start(string root, string name, IReadOnlyDictionary<string, string> environment, int? port, params string[] args)
    {
        var dataDirectory = Path.Combine(root, name);
        Directory.CreateDirectory(dataDirectory);
        var logPath = Path.Combine(root, name + ".log");
        for (var n = 2; File.Exists(logPath); n++)
        {
            logPath = Path.Combine(root, $"{name}.{n}.log");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "conductor.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.ArgumentList.Add("--data-dir");
        start.ArgumentList.Add(dataDirectory);
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {name}");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ClusterProcess(process, log, name, dataDirectory, logPath, port);
    }

    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>SIGKILL: the process dies without a word, as when its machine loses power.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 9);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGSTOP: the process freezes, as a machine that hangs or loses the network; <see cref="Resume"/> wakes it.</summary>
    public void Pause() => _ = Kill(_process.Id, 19);

    /// <summary>SIGCONT.</summary>
    public void Resume() => _ = Kill(_process.Id, 18);

    /// <summary>
    /// SIGKILL to the process groups of the job wrappers this agent started: what a dead node takes with it. Each
    /// job runs in a session of its own, so killing the agent alone would leave them running.
    /// </summary>
    public int KillJobProcesses()
    {
        var killed = 0;
        foreach (var (pid, _) in JobWrappers().Where(w => w.CommandLine.Contains(DataDirectory + "/", StringComparison.Ordinal)))
        {
            _ = Kill(-pid, 9);
            _ = Kill(pid, 9);
            killed++;
        }

        return killed;
    }

    /// <summary>The pid of the live job wrapper (the job's process group leader) of any attempt of the job, on any agent under <paramref name="root"/>.</summary>
    public static int? FindJobProcess(string root, string jobId) =>
        JobWrappers()
            .Where(w => w.CommandLine.Contains(root + "/", StringComparison.Ordinal)
                && w.CommandLine.Contains($"/scripts/job-{jobId}-", StringComparison.Ordinal) && Processes.IsAlive(w.Pid))
            .Select(w => (int?)w.Pid)
            .FirstOrDefault();

    private static IEnumerable<(int Pid, string CommandLine)> JobWrappers()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (cmdline.Contains(" conductor-job ", StringComparison.Ordinal))
            {
                yield return (pid, cmdline);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Resume();
            _ = Kill(_process.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        KillJobProcesses();
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

/// <summary>
/// The PostgreSQL server of the cluster tests, named by <c>CONDUCTOR_TEST_POSTGRES</c> (run-tests starts a throwaway
/// one and sets it): a connection string to a maintenance database whose user may create databases.
/// </summary>
public static class ClusterDatabase
{
    public const string Variable = "CONDUCTOR_TEST_POSTGRES";

    public static string? MaintenanceConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public static string? SkipReason =>
        MaintenanceConnectionString is null ? $"PostgreSQL tests did not run: {Variable} is not set" : null;

    /// <summary>Creates an empty database; returns its name and a connection string to it.</summary>
    public static async Task<(string Name, string ConnectionString)> CreateAsync()
    {
        var maintenance = MaintenanceConnectionString ?? throw new InvalidOperationException(SkipReason);
        var name = "conductor_e2e_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(maintenance))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8';", connection);
            await create.ExecuteNonQueryAsync();
        }

        return (name, new NpgsqlConnectionStringBuilder(maintenance) { Database = name }.ConnectionString);
    }

    public static async Task DropAsync(string name)
    {
        var maintenance = MaintenanceConnectionString ?? throw new InvalidOperationException(SkipReason);
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(maintenance);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);", connection);
        await drop.ExecuteNonQueryAsync();
    }
}

/// <summary>A fact that needs PostgreSQL: reported as skipped, with the reason, when no server is configured.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (ClusterDatabase.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
