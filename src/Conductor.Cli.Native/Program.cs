using System.CommandLine;
using Conductor.Cli.Commands;

// The client side of the conductor executable, compiled ahead of time. The ./conductor launcher sends the commands
// registered by ClientCommands here and everything else (server, agent, the root help) to the managed executable.
if (await ClientCommands.RunSlurmCommandAsync(args) is { } slurmExit)
{
    return slurmExit;
}

var root = new RootCommand(ClientCommands.Description);
var submit = ClientCommands.AddTo(root);
return await ClientCommands.InvokeAsync(root, submit, args);
