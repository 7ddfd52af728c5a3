using System.CommandLine;
using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Server.Api;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor history</c>: sacct. Finished jobs with their elapsed time, CPU time, peak memory and exit code.</summary>
public static class HistoryCommand
{
    public static Command Create()
    {
        var state = new Option<string?>("--state", "-s") { Description = "Only jobs that ended in these states, e.g. FAILED,TIMEOUT [every final state].", HelpName = "STATES" };
        var account = new Option<string?>("--account", "-A") { Description = "Only this account's jobs.", HelpName = "ACCOUNT" };
        var partition = new Option<string?>("--partition", "-p") { Description = "Only jobs of this partition.", HelpName = "PARTITION" };
        var me = new Option<bool>("--me") { Description = "Only the jobs of your token's account." };
        var limit = new Option<int>("--limit", "-n") { Description = "How many of the most recent jobs to show.", DefaultValueFactory = _ => 50, HelpName = "N" };
        var json = ClientCommand.JsonOption();
        var server = ClientCommand.ServerOption();
        var command = new Command("history", "List finished jobs, like sacct: Elapsed, TotalCPU, MaxRSS, State and ExitCode, oldest first.")
        {
            state, account, partition, me, limit, json, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var n = parse.GetValue(limit);
            if (n < 1)
            {
                return ExitCodes.Fail(ExitCodes.Usage, "--limit must be at least 1.");
            }

            var states = ClientCommand.States(parse.GetValue(state), null) ?? JobStates.All.Where(s => s.IsTerminal()).ToList();
            if (states.Any(s => !s.IsTerminal()))
            {
                return ExitCodes.Fail(ExitCodes.Usage, "--state may only name final states here; use conductor queue for pending and running jobs.");
            }

            var accountFilter = parse.GetValue(account);
            if (parse.GetValue(me))
            {
                accountFilter = (await client.GetAsync<WhoAmIView>("/api/v1/whoami", ct)).Account;
            }

            var jobs = await QueueCommand.ListAllAsync(client, states, accountFilter, parse.GetValue(partition), ct, newestFirst: true, max: n);
            jobs.Reverse();
            if (parse.GetValue(json))
            {
                Console.WriteLine(Client.ConductorClient.Serialize(new Client.JobsDocument(jobs)));
                return ExitCodes.Ok;
            }

            var table = ClientCommand.PlainTable("JOBID", "JOBNAME", "PARTITION", "ACCOUNT", "ALLOCCPUS", "ELAPSED", "TOTALCPU", "MAXRSS", "STATE", "EXITCODE");
            foreach (var i in new[] { 0, 4, 5, 6, 7 })
            {
                table.Columns[i].RightAligned();
            }

            foreach (var j in jobs)
            {
                table.AddRow(
                    new Text(j.JobId),
                    new Text(j.Detail.Name),
                    new Text(j.Detail.Partition),
                    new Text(j.Detail.Account),
                    new Text(j.Detail.Cpus.ToString(CultureInfo.InvariantCulture)),
                    new Text(Display.Elapsed(j)),
                    new Text(Display.CpuTime(j.Usage.CpuSeconds)),
                    new Text(Display.Kib(j.Usage.MaxRssKib)),
                    new Text(j.State, Display.StateStyle(j.State)),
                    new Text(j.ExitCode ?? ""));
            }

            ClientCommand.Console().Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }
}
