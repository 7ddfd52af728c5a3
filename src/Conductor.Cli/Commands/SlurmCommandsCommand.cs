using System.CommandLine;
using Conductor.Cli.Slurm;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor slurm-commands DIR</c>: writes Slurm's command names as launchers of this CLI.</summary>
public static class SlurmCommandsCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("directory") { Description = "Where to write the commands; put it first on PATH.", HelpName = "DIR" };
        var server = new Option<string?>("--server")
        {
            Description = "Bake this server URL in as the commands' default (CONDUCTOR_URL still wins).",
            HelpName = "URL",
        };
        var command = new Command("slurm-commands", $"Write {string.Join(", ", SlurmCommands.Names)} into DIR: Slurm's commands, answered by the Conductor server.")
        {
            directory, server,
        };
        command.SetAction(parse =>
        {
            var dir = Path.GetFullPath(parse.GetValue(directory)!);
            try
            {
                foreach (var path in SlurmCommands.WriteLaunchers(dir, parse.GetValue(server)))
                {
                    Console.WriteLine(path);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return ExitCodes.Fail(ExitCodes.Usage, $"cannot write the commands into {dir}: {e.Message.TrimEnd('.')}.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
