using System.Collections.Concurrent;
using System.Diagnostics;

namespace Conductor.EndToEnd.Tests;

/// <summary>The real conductor executable, run as a user runs it against a real server.</summary>
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
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(cts.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a command and collects its output lines as they come, for commands that keep running.</summary>
    public Running StartCollecting(params string[] args) => new(Start(args));

    private Process Start(string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            WorkingDirectory = WorkDir,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "conductor.dll"));
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
