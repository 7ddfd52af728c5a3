using System.CommandLine;
using Conductor.Cli.Commands;

var root = new RootCommand("Conductor: a batch job scheduler for Linux. Submit scripts, queue them, run them on CPUs you allocate.");
var submit = SubmitCommand.Create();
root.Subcommands.Add(ServerCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(submit);
root.Subcommands.Add(QueueCommand.Create());
root.Subcommands.Add(ShowCommand.Create());
root.Subcommands.Add(CancelCommand.Create());
root.Subcommands.Add(LogsCommand.Create());
root.Subcommands.Add(WaitCommand.Create());
root.Subcommands.Add(HistoryCommand.Create());
root.Subcommands.Add(NodesCommand.Create());
root.Subcommands.Add(DashboardCommand.Create());
root.Subcommands.Add(SeffCommand.Create());

var parsed = root.Parse(SubmitCommand.PrepareArguments(args, submit));
return await parsed.InvokeAsync(new InvocationConfiguration
{
    // The Generic Host maps SIGTERM and Ctrl-C to a graceful stop; the parser must not race it.
    ProcessTerminationTimeout = null,
    EnableDefaultExceptionHandler = false,
});
