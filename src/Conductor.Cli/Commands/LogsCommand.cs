using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor logs</c>: prints a job's output, or follows it like tail -f until the job ends.</summary>
public static class LogsCommand
{
    private static readonly TimeSpan FollowInterval = TimeSpan.FromMilliseconds(250);

    public static Command Create()
    {
        var id = new Argument<string>("job-id") { Description = "The job whose output to print.", HelpName = "ID" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the job ends." };
        var stderr = new Option<bool>("--stderr") { Description = "Print the standard error file instead (the same as stdout unless the job gave --error)." };
        var server = ClientCommand.ServerOption();
        var command = new Command("logs", "Print a job's output; with -f, follow it as it is written until the job ends.")
        {
            id, follow, stderr, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var jobId = ClientCommand.JobIds([parse.GetValue(id)!])[0];
            var stream = parse.GetValue(stderr) ? "stderr" : "stdout";
            var output = Console.OpenStandardOutput();
            long offset = 0;
            while (true)
            {
                var chunk = await client.GetAsync<OutputView>($"/api/v1/jobs/{ClientCommand.Path(jobId)}/output?stream={stream}&offset={offset}&limit={1024 * 1024}", ct);
                if (chunk.Data.Length > 0)
                {
                    var bytes = System.Text.Encoding.UTF8.GetBytes(chunk.Data);
                    await output.WriteAsync(bytes, ct);
                    await output.FlushAsync(ct);
                }

                var more = chunk.NextOffset < chunk.Size;
                offset = chunk.NextOffset;
                if (chunk.Eof || (!more && !parse.GetValue(follow)))
                {
                    return ExitCodes.Ok;
                }

                if (!more)
                {
                    await Task.Delay(FollowInterval, ct);
                }
            }
        });
        return command;
    }
}
