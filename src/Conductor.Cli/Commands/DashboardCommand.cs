using System.CommandLine;
using System.Diagnostics;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary>
/// <c>conductor dashboard</c>: prints a link that logs a browser in to the dashboard as this CLI's account, with a
/// single-use code that expires in two minutes; <c>--open</c> opens it with xdg-open.
/// </summary>
public static class DashboardCommand
{
    public static Command Create()
    {
        var open = new Option<bool>("--open") { Description = "Open the link in the desktop's browser (xdg-open) as well." };
        var server = ClientCommand.ServerOption();
        var command = new Command("dashboard", "Print a link that logs a browser in to the dashboard as your account; it works once, within two minutes.")
        {
            open, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var code = await client.PostAsync<LoginCodeView>("/api/v1/auth/login-codes", new { }, ct);
            var url = code.Url ?? new Uri(client.Settings.Server, code.LoginPath).ToString();
            Console.WriteLine(url);
            if (parse.GetValue(open))
            {
                if (FindOnPath("xdg-open") is not { } opener)
                {
                    return ExitCodes.Fail(ExitCodes.Usage, "xdg-open is not installed here; open the link above in a browser.");
                }

                using var process = Process.Start(new ProcessStartInfo(opener, [url]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true });
                if (process is not null)
                {
                    await process.WaitForExitAsync(ct);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
