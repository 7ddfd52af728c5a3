using System.CommandLine;
using Conductor.Cli.Commands;

if (await ClientCommands.RunSlurmCommandAsync(args) is { } slurmExit)
{
    return slurmExit;
}

var root = new RootCommand(ClientCommands.Description);
root.Subcommands.Add(ServerCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
var submit = ClientCommands.AddTo(root);
return await ClientCommands.InvokeAsync(root, submit, args);
