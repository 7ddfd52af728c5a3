using System.CommandLine;
using Conductor.Cli.Commands;

var root = new RootCommand("Conductor: a batch job scheduler for Linux. Submit scripts, queue them, run them on CPUs you allocate.");
root.Subcommands.Add(ServerCommand.Create());

var parsed = root.Parse(args);
return await parsed.InvokeAsync(new InvocationConfiguration
{
    // The Generic Host maps SIGTERM and Ctrl-C to a graceful stop; the parser must not race it.
    ProcessTerminationTimeout = null,
    EnableDefaultExceptionHandler = false,
});
