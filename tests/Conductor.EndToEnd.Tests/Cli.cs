using System.Collections.Concurrent;
using System.Diagnostics;

namespace Conductor.EndToEnd.Tests;

/// <summary>The real conductor command, run as a user runs it (the repository's <c>./conductor</c>) against a real server.</summary>
public sealed class Cli
{
    private readonly ServerProcess _server;

    public Cli(ServerProcess server, string workDir)
    {
        _server = server;
        WorkDir = workDir;
    }

    public string WorkDir { get; }

    /// <summary>Variables to set (a null value removes the variable) on top of the server address and token.</summary>
    public Dictionary<string, string?> Environment { get; } = new(StringComparer.Ordinal);

    public sealed record Result(int Code, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {Code}\nstdout: {Stdout}\nstderr: {Stderr}";
    }

    public async Task<Result> RunAsync(params string[] args)
    {
        await Launcher.BuildAsync();
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(cts.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a command and collects its output lines as they come, for commands that keep running.</summary>
    public Running StartCollecting(params string[] args)
    {
        Launcher.BuildAsync().GetAwaiter().GetResult();
        return new(Start(args));
    }

    private Process Start(string[] args)
    {
        var start = new ProcessStartInfo(Launcher.Command)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            WorkingDirectory = WorkDir,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var name in new[] { "CONDUCTOR_URL", "CONDUCTOR_TOKEN", "CONDUCTOR_DATA_DIR" })
        {
            start.Environment.Remove(name);
        }

        start.Environment["CONDUCTOR_URL"] = _server.BaseAddress.ToString();
        start.Environment["CONDUCTOR_TOKEN"] = _server.Token;
        start.Environment["NO_COLOR"] = "1";
        foreach (var (key, value) in Environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start conductor");
    }

    public sealed class Running : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _lines = new();

        public Running(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    _lines.Enqueue(e.Data);
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public IReadOnlyList<string> Lines => [.. _lines];

        public bool HasExited => _process.HasExited;

        public int ExitCode => _process.ExitCode;

        public async Task WaitForExitAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(cts.Token);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }
    }
}

/// <summary>
/// The repository's <c>./conductor</c> launcher, which the tests run as users do: it builds the CLI on first use (the
/// managed executable, and the native client commands where the machine can link them) and sends each command to
/// its build. The first use here builds once, with a generous deadline, before any command is timed.
/// </summary>
public static class Launcher
{
    private static readonly Lazy<Task> Built = new(BuildOnceAsync);

    public static string RepositoryRoot { get; } = FindRoot();

    public static string Command => Path.Combine(RepositoryRoot, "conductor");

    /// <summary>Where the launcher keeps the managed build; the native one is <c>native/conductor</c> inside it.</summary>
    public static string BuildDirectory => Path.Combine(RepositoryRoot, "artifacts", "cli");

    public static string NativeExecutable => Path.Combine(BuildDirectory, "native", "conductor");

    public static Task BuildAsync() => Built.Value;

    private static async Task BuildOnceAsync()
    {
        var start = new ProcessStartInfo(Command, ["--version"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ./conductor");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        await process.WaitForExitAsync(cts.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"./conductor could not build the CLI (exit {process.ExitCode}): {await stderr}{await stdout}");
        }

        // CI insists on the native build; elsewhere a machine without a C compiler runs every command managed.
        if (System.Environment.GetEnvironmentVariable("CONDUCTOR_REQUIRE_NATIVE") == "1" && !File.Exists(NativeExecutable))
        {
            throw new InvalidOperationException($"CONDUCTOR_REQUIRE_NATIVE=1 but ./conductor built no native client commands: {await stderr}");
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "conductor")) && File.Exists(Path.Combine(dir.FullName, "Conductor.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no ./conductor launcher above {AppContext.BaseDirectory}");
    }
}
