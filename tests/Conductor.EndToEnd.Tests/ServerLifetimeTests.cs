using System.Diagnostics;
using System.Net;

namespace Conductor.EndToEnd.Tests;

/// <summary>Starting and stopping the server as an operator does.</summary>
public sealed class ServerLifetimeTests
{
    [Fact]
    public async Task Sigterm_StopsTheServerCleanly()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "1");
        using var client = server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/dashboard")).StatusCode);

        var code = await server.StopAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, code);
        Assert.Contains("shutting down", server.ReadLog(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task NoAuth_IsRefused_WhenListeningBeyondLoopback()
    {
        var (code, stderr) = await RunCliAsync("server", "--no-auth", "--listen", "0.0.0.0:0", "--data-dir",
            Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..8]));

        Assert.Equal(1, code);
        Assert.Contains("--no-auth", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("server")]
    [InlineData("agent")]
    public async Task PasswordOnTheCommandLine_IsRefused_AndADbFileIsRead(string command)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        var (code, stderr) = await RunCliAsync(command, "--db", "Host=127.0.0.1;Port=1;Username=u;Password=hunter2", "--data-dir", dataDir);
        var file = Path.Combine(Path.GetTempPath(), "conductor-e2e-db-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllTextAsync(file, "Host=127.0.0.1;Port=1;Username=u;Password=hunter2;Timeout=2\n");
        var (fileCode, fileStderr) = await RunCliAsync(command, "--db-file", file, "--data-dir", dataDir);
        File.Delete(file);

        Assert.Equal(1, code);
        Assert.Contains("--db-file", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Equal(3, fileCode);
        Assert.DoesNotContain("hunter2", fileStderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--cpus", "0", "--cpus")]
    [InlineData("--memory", "16GB", "--memory")]
    [InlineData("--kill-wait", "soon", "--kill-wait")]
    [InlineData("--listen", "nowhere", "--listen")]
    public async Task BadFlags_AreOneSentenceOnStderr(string flag, string value, string named)
    {
        var (code, stderr) = await RunCliAsync("server", flag, value, "--data-dir",
            Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..8]));

        Assert.Equal(1, code);
        Assert.Contains(named, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    private static async Task<(int Code, string Stderr)> RunCliAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "conductor.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        await stdout;
        return (process.ExitCode, await stderr);
    }
}
