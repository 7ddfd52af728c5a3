using System.CommandLine;
using System.Runtime.InteropServices;
using Conductor.Cli.Commands;
using Conductor.Cli.Slurm;

// Slurm's commands (sbatch, squeue, ...) go straight to their own parsers: they read arguments as Slurm's do.
if (SlurmCommands.IsInvocation(args))
{
    using var interrupted = new CancellationTokenSource();
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; interrupted.Cancel(); });
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; interrupted.Cancel(); });
    return await SlurmCommands.RunAsync(args[1], args[2..], interrupted.Token);
}

var root = new RootCommand("Conductor: a batch job scheduler for Linux. Submit scripts, queue them, run them on CPUs you allocate.");
var submit = SubmitCommand.Create();
root.Subcommands.Add(ServerCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(submit);
root.Subcommands.Add(QueueCommand.Create());
root.Subcommands.Add(ShowCommand.Create());
root.Subcommands.Add(CancelCommand.Create());
root.Subcommands.Add(HoldCommand.Create(hold: true));
root.Subcommands.Add(HoldCommand.Create(hold: false));
root.Subcommands.Add(UpdateCommand.Create());
root.Subcommands.Add(RequeueCommand.Create());
root.Subcommands.Add(LogsCommand.Create());
root.Subcommands.Add(WaitCommand.Create());
root.Subcommands.Add(HistoryCommand.Create());
root.Subcommands.Add(NodesCommand.Create());
root.Subcommands.Add(SlurmCommandsCommand.Create());
root.Subcommands.Add(DashboardCommand.Create());
root.Subcommands.Add(SeffCommand.Create());

var parsed = root.Parse(SubmitCommand.PrepareArguments(args, submit));
return await parsed.InvokeAsync(new InvocationConfiguration
{
    // The Generic Host maps SIGTERM and Ctrl-C to a graceful stop; the parser must not race it.
    ProcessTerminationTimeout = null,
    EnableDefaultExceptionHandler = false,
});
