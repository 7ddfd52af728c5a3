using System.CommandLine;
using System.Runtime.InteropServices;
using Conductor.Cli.Commands;
using Conductor.Cli.Slurm;

// The client side of the conductor executable, compiled ahead of time. The ./conductor launcher sends the commands
// below here and everything else (server, agent, the root help) to the managed executable, whose Program.cs
// registers these same commands beside the daemons.
if (SlurmCommands.IsInvocation(args))
{
    using var interrupted = new CancellationTokenSource();
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; interrupted.Cancel(); });
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; interrupted.Cancel(); });
    return await SlurmCommands.RunAsync(args[1], args[2..], interrupted.Token);
}

var root = new RootCommand("Conductor: a batch job scheduler for Linux. Submit scripts, queue them, run them on CPUs you allocate.");
var submit = SubmitCommand.Create();
root.Subcommands.Add(submit);
root.Subcommands.Add(QueueCommand.Create());
root.Subcommands.Add(ShowCommand.Create());
root.Subcommands.Add(CancelCommand.Create());
root.Subcommands.Add(LogsCommand.Create());
root.Subcommands.Add(WaitCommand.Create());
root.Subcommands.Add(HistoryCommand.Create());
root.Subcommands.Add(NodesCommand.Create());
root.Subcommands.Add(SlurmCommandsCommand.Create());
root.Subcommands.Add(DashboardCommand.Create());
root.Subcommands.Add(SeffCommand.Create());
root.Subcommands.Add(HoldCommand.Create(hold: true));
root.Subcommands.Add(HoldCommand.Create(hold: false));

var parsed = root.Parse(SubmitCommand.PrepareArguments(args, submit));
return await parsed.InvokeAsync(new InvocationConfiguration
{
    ProcessTerminationTimeout = null,
    EnableDefaultExceptionHandler = false,
});
