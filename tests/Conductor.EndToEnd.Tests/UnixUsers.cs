using System.Diagnostics;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// Two real Unix users (with home directories) for the tests of multi-user security, created with useradd and
/// removed with userdel when the fixture is disposed. The tests need root, as the server they start does to run
/// each job as its owner.
/// </summary>
public sealed class UnixUsers : IAsyncLifetime
{
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];

    public string Alice => "cda" + _suffix;

    public string Bob => "cdb" + _suffix;

    public static bool IsRoot => Environment.UserName == "root";

    public string Home(string user) => Path.Combine("/home", user);

    public async Task InitializeAsync()
    {
        Assert.True(IsRoot, "the multi-user security tests create Unix users and must run as root");
        foreach (var user in new[] { Alice, Bob })
        {
            await RunAsync("useradd", "--create-home", "--shell", "/bin/bash", user);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var user in new[] { Alice, Bob })
        {
            await RunAsync("userdel", "--force", "--remove", user);
        }
    }

    /// <summary>Runs a command as <paramref name="user"/>, returning exit code and output.</summary>
    public static Task<(int Code, string Output)> RunAsAsync(string user, params string[] command) =>
        RunAsync(["runuser", "-u", user, "--", .. command]);

    public static async Task<(int Code, string Output)> RunAsync(params string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Skip(1))
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
