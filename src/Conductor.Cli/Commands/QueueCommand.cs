using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Core.Jobs;
using Conductor.Server.Api;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor queue</c>: squeue. Pending and running jobs unless --state says otherwise.</summary>
public static class QueueCommand
{
    public static Command Create()
    {
        var state = new Option<string?>("--state", "-t") { Description = "Only jobs in these states, e.g. PENDING,RUNNING or PD,R; 'all' for every state [PENDING,RUNNING].", HelpName = "STATES" };
        var account = new Option<string?>("--account", "-A") { Description = "Only this account's jobs.", HelpName = "ACCOUNT" };
        var partition = new Option<string?>("--partition", "-p") { Description = "Only jobs in this partition.", HelpName = "PARTITION" };
        var me = new Option<bool>("--me") { Description = "Only the jobs of your token's account." };
        var json = ClientCommand.JsonOption();
        var server = ClientCommand.ServerOption();
        var command = new Command("queue", "List queued and running jobs, like squeue: JOBID PARTITION NAME ACCOUNT ST TIME CPUS NODELIST(REASON).")
        {
            state, account, partition, me, json, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var states = ClientCommand.States(parse.GetValue(state), [JobState.Pending, JobState.Running]);
            var accountFilter = parse.GetValue(account);
            if (parse.GetValue(me))
            {
                accountFilter = (await client.GetAsync<WhoAmIView>("/api/v1/whoami", ct)).Account;
            }

            var jobs = await ListAllAsync(client, states, accountFilter, parse.GetValue(partition), ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(ConductorClient.Serialize(new { jobs }));
                return ExitCodes.Ok;
            }

            var table = ClientCommand.PlainTable("JOBID", "PARTITION", "NAME", "ACCOUNT", "ST", "TIME", "CPUS", "NODELIST(REASON)");
            table.Columns[0].RightAligned();
            table.Columns[5].RightAligned();
            table.Columns[6].RightAligned();
            foreach (var j in jobs)
            {
                table.AddRow(
                    new Text(j.JobId),
                    new Text(j.Detail.Partition),
                    new Text(j.Detail.Name),
                    new Text(j.Detail.Account),
                    new Text(Display.Compact(j.State), Display.StateStyle(j.State)),
                    new Text(Display.Elapsed(j)),
                    new Text(j.Detail.Cpus.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    new Text(Display.NodeOrReason(j)));
            }

            ClientCommand.Console().Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Every job that matches, page by page (keyset on the job id).</summary>
    public static async Task<List<JobView>> ListAllAsync(
        ConductorClient client, IReadOnlyList<JobState>? states, string? account, string? partition, CancellationToken ct, bool newestFirst = false, int max = int.MaxValue)
    {
        var jobs = new List<JobView>();
        string? after = null;
        do
        {
            var query = new List<string> { $"limit={Math.Min(1000, max - jobs.Count)}" };
            if (states is not null)
            {
                query.Add("state=" + string.Join(',', states.Select(s => s.ToSlurmName())));
            }

            if (account is not null)
            {
                query.Add("account=" + Uri.EscapeDataString(account));
            }

            if (partition is not null)
            {
                query.Add("partition=" + Uri.EscapeDataString(partition));
            }

            if (newestFirst)
            {
                query.Add("order=desc");
            }

            if (after is not null)
            {
                query.Add("after=" + after);
            }

            var page = await client.GetAsync<JobListView>("/api/v1/jobs?" + string.Join('&', query), ct);
            jobs.AddRange(page.Jobs);
            after = page.NextAfter;
        }
        while (after is not null && jobs.Count < max);

        return jobs;
    }
}
