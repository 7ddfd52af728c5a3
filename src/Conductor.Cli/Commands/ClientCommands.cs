using System.CommandLine;
using System.Runtime.InteropServices;
using Conductor.Cli.Slurm;

namespace Conductor.Cli.Commands;

/// <summary>
/// What both builds of the executable share: Slurm's commands by name, and the commands that talk to a server. The
/// managed build adds the server and the agent; the native one is these alone, and the ./conductor launcher sends it
/// exactly the names registered here.
/// </summary>
public static class ClientCommands
{
    public const string Description = "Conductor: a batch job scheduler for Linux. Submit scripts, queue them, run them on CPUs you allocate.";

    /// <summary>
    /// Slurm's commands (sbatch, squeue, ...) go straight to their own parsers, which read arguments as Slurm's do:
    /// their exit code, or null when <paramref name="args"/> name none.
    /// </summary>
    public static async Task<int?> RunSlurmCommandAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (!SlurmCommands.IsInvocation(args))
        {
            return null;
        }

        using var interrupted = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; interrupted.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; interrupted.Cancel(); });
        return await SlurmCommands.RunAsync(args[1], args[2..], interrupted.Token);
    }

    /// <summary>Adds the client commands to <paramref name="root"/>; returns submit, whose arguments are prepared apart.</summary>
    public static Command AddTo(RootCommand root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var submit = SubmitCommand.Create();
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
        return submit;
    }

    public static Task<int> InvokeAsync(RootCommand root, Command submit, string[] args)
    {
        ArgumentNullException.ThrowIfNull(root);
        return root.Parse(SubmitCommand.PrepareArguments(args, submit)).InvokeAsync(new InvocationConfiguration
        {
            // The Generic Host maps SIGTERM and Ctrl-C to a graceful stop; the parser must not race it.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        });
    }
}
