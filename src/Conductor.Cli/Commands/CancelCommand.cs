using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor cancel</c>: scancel. Idempotent: cancelling an ended job changes nothing.</summary>
public static class CancelCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("job-id") { Description = "The jobs to cancel.", Arity = ArgumentArity.OneOrMore, HelpName = "ID" };
        var quiet = new Option<bool>("--quiet", "-Q") { Description = "Print nothing for jobs that were cancelled or had already ended." };
        var server = ClientCommand.ServerOption();
        var command = new Command("cancel", "Cancel jobs, like scancel: a pending job ends at once, a running one gets SIGTERM, then SIGKILL after the grace period.")
        {
            ids, quiet, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var code = ExitCodes.Ok;
            foreach (var id in ClientCommand.JobIds(parse.GetValue(ids)!))
            {
                try
                {
                    var result = await client.PostAsync<CancelResponse>($"/api/v1/jobs/{ClientCommand.Path(id)}/cancel", null, ct);
                    if (!parse.GetValue(quiet))
                    {
                        Console.WriteLine(result.Changed ? $"Cancelled job {id}" : $"Job {id} had already ended: {result.State}");
                    }
                }
                catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
                {
                    code = ExitCodes.Fail(ExitCodes.NotFound, e.Message);
                }
            }

            return code;
        });
        return command;
    }
}
