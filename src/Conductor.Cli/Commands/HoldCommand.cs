using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary>
/// <c>conductor hold</c> and <c>conductor release</c>: scontrol hold/release. A held job stays pending (reason
/// JobHeldUser, or JobHeldAdmin for the admin's hold, which only the admin may release) until released.
/// </summary>
public static class HoldCommand
{
    public static Command Create(bool hold)
    {
        var ids = new Argument<string[]>("job-id") { Description = hold ? "The pending jobs to hold." : "The held jobs to release.", Arity = ArgumentArity.OneOrMore, HelpName = "ID" };
        var admin = new Option<bool>("--admin") { Description = "Put the admin's hold (JobHeldAdmin), which only the admin may release [the admin's hold when the admin holds another user's job]." };
        var user = new Option<bool>("--user") { Description = "Put a user's hold (JobHeldUser), which the job's owner may release, even as the admin (scontrol uhold)." };
        var server = ClientCommand.ServerOption();
        var command = hold
            ? new Command("hold", "Hold pending or running jobs, like scontrol hold: they wait until released (a running one if requeued).") { ids, admin, user, server }
            : new Command("release", "Release held jobs, like scontrol release.") { ids, server };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            if (hold && parse.GetValue(admin) && parse.GetValue(user))
            {
                throw new CliException(ExitCodes.Usage, "give --admin or --user, not both.");
            }

            var query = !hold ? "" : parse.GetValue(admin) ? "?admin=true" : parse.GetValue(user) ? "?admin=false" : "";
            var code = ExitCodes.Ok;
            foreach (var id in ClientCommand.JobIds(parse.GetValue(ids)!))
            {
                try
                {
                    var result = await client.PostAsync<HoldResponse>($"/api/v1/jobs/{ClientCommand.Path(id)}/{(hold ? "hold" : "release")}{query}", null, ct);
                    Console.WriteLine(result.Changed
                        ? $"{(hold ? "Held" : "Released")} job {id}"
                        : $"Job {id} was already {(hold ? "held" : "not held")}");
                }
                catch (CliException e) when (e.ExitCode is ExitCodes.NotFound or ExitCodes.Usage)
                {
                    code = ExitCodes.Fail(e.ExitCode, e.Message);
                }
            }

            return code;
        });
        return command;
    }
}
