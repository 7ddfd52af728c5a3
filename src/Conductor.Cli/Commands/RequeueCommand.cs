using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor requeue ID...</c>: scontrol requeue. A running job is stopped first; an ended one goes straight back.</summary>
public static class RequeueCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("job-id") { Description = "The jobs to put back in the queue.", Arity = ArgumentArity.OneOrMore, HelpName = "ID" };
        var hold = new Option<bool>("--hold") { Description = "Leave the jobs held in the queue until released, like scontrol requeuehold." };
        var server = ClientCommand.ServerOption();
        var command = new Command("requeue", "Put running or ended jobs back in the queue as a new attempt, like scontrol requeue; a running job is stopped first.")
        {
            ids, hold, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var code = ExitCodes.Ok;
            var held = parse.GetValue(hold);
            foreach (var id in ClientCommand.JobIds(parse.GetValue(ids)!))
            {
                try
                {
                    var result = await client.PostAsync<JobActionResponse>($"/api/v1/jobs/{Uri.EscapeDataString(id.ToString())}/requeue{(held ? "?hold=true" : "")}", null, ct);
                    var where = held ? "the queue, held" : "the queue";
                    Console.WriteLine(result.Result == "stopping"
                        ? $"Requeued job {id}: it is being stopped and goes back to {where}"
                        : $"Requeued job {id}{(held ? " (held)" : "")}");
                }
                catch (CliException e) when (e.ExitCode != ExitCodes.Unreachable)
                {
                    code = ExitCodes.Fail(e.ExitCode, e.Message);
                }
            }

            return code;
        });
        return command;
    }
}
