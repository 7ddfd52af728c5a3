using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Conductor.EndToEnd.Tests.Slurm;

/// <summary>
/// A shell with the directory that <c>conductor slurm-commands</c> wrote first on PATH: Slurm's commands run as a
/// user's script runs them, by name, against a real server.
/// </summary>
public sealed partial class SlurmShell
{
    private readonly ServerProcess _server;

    private SlurmShell(ServerProcess server, string binDirectory, string workDir)
    {
        _server = server;
        BinDirectory = binDirectory;
        WorkDir = workDir;
    }

    public string BinDirectory { get; }
    public string WorkDir { get; }

    /// <summary>Writes the commands with the real CLI (<c>conductor slurm-commands DIR</c>) and returns a shell that finds them.</summary>
    public static async Task<SlurmShell> CreateAsync(ServerProcess server, string workDir)
    {
        var bin = Path.Combine(workDir, "slurm-bin");
        var written = await new Cli(server, workDir).RunAsync("slurm-commands", bin);
        Assert.True(written.Code == 0, written.ToString());
        foreach (var name in new[] { "sbatch", "squeue", "scancel", "sacct", "sinfo", "scontrol", "srun" })
        {
            Assert.Contains(Path.Combine(bin, name), written.Stdout.Split('\n'));

            // A launcher starts the built executable itself (the native one where it was built): no build check, no dotnet run.
            var launcher = await File.ReadAllTextAsync(Path.Combine(bin, name));
            Assert.Contains($" slurm {name} \"$@\"", launcher, StringComparison.Ordinal);
            Assert.Contains(File.Exists(Launcher.NativeExecutable) ? $"exec '{Launcher.NativeExecutable}'" : Launcher.BuildDirectory, launcher, StringComparison.Ordinal);
            Assert.DoesNotContain("dotnet run", launcher, StringComparison.Ordinal);
        }

        return new SlurmShell(server, bin, workDir);
    }

    /// <summary>
    /// The same shell with commands that run the managed build (<c>dotnet conductor.dll slurm NAME</c>) whatever the
    /// launchers run, so a test can check that the native build prints byte for byte what the managed one does.
    /// </summary>
    public SlurmShell Managed()
    {
        var bin = Path.Combine(WorkDir, "slurm-managed-bin");
        Directory.CreateDirectory(bin);
        foreach (var name in new[] { "sbatch", "squeue", "scancel", "sacct", "sinfo", "scontrol", "srun" })
        {
            var path = Path.Combine(bin, name);
            File.WriteAllText(path, $"#!/bin/sh\nexec dotnet '{Path.Combine(Launcher.BuildDirectory, "conductor.dll")}' slurm {name} \"$@\"\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return new SlurmShell(_server, bin, WorkDir);
    }

    /// <summary>Runs a command line with bash in the work directory, the commands first on PATH.</summary>
    public async Task<Cli.Result> RunAsync(string commandLine, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("/bin/bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = WorkDir,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(commandLine);
        foreach (var name in new[] { "CONDUCTOR_URL", "CONDUCTOR_TOKEN", "CONDUCTOR_DATA_DIR", "SQUEUE_FORMAT", "SACCT_FORMAT" })
        {
            start.Environment.Remove(name);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("SLURM_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["PATH"] = BinDirectory + ":" + (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin");
        start.Environment["CONDUCTOR_URL"] = _server.BaseAddress.ToString();
        start.Environment["CONDUCTOR_TOKEN"] = _server.Token;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start bash");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{commandLine}' did not end in time; stdout so far: {await stdout}");
        }

        return new Cli.Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a command that must succeed and returns its standard output.</summary>
    public async Task<string> OutputAsync(string commandLine)
    {
        var result = await RunAsync(commandLine);
        Assert.True(result.Code == 0, $"{commandLine}: {result}");
        return result.Stdout;
    }

    /// <summary>
    /// Makes output comparable with a golden file: dates become 2026-01-01T00:00:00 (same width, so columns stay
    /// aligned), the work directory becomes /work, the host name in AllocNode becomes host.
    /// </summary>
    public string Normalize(string text) =>
        AllocNode().Replace(Date().Replace(text.Replace(WorkDir, "/work", StringComparison.Ordinal), "2026-01-01T00:00:00"), "AllocNode:Sid=host:0");

    [GeneratedRegex(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")]
    private static partial Regex Date();

    [GeneratedRegex(@"AllocNode:Sid=\S+")]
    private static partial Regex AllocNode();
}
