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
        var sort = new Option<string?>("--sort", "-S")
        {
            Description = "Order by: id (the default), priority (highest first, as the scheduler takes them) or start (expected start).",
            HelpName = "id|priority|start",
        };
        sort.AcceptOnlyFromAmong("id", "priority", "start");
        var priority = new Option<bool>("--priority") { Description = "Add a PRIORITY column: a pending job's multifactor priority." };
        var start = new Option<bool>("--start") { Description = "Add a START_TIME column: when a pending job is expected to start (its backfill reservation)." };
        var json = ClientCommand.JsonOption();
        var server = ClientCommand.ServerOption();
        var command = new Command("queue", "List queued and running jobs, like squeue: JOBID PARTITION NAME ACCOUNT ST TIME CPUS NODELIST(REASON).")
        {
            state, account, partition, me, sort, priority, start, json, server,
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
            jobs = parse.GetValue(sort) switch
            {
                "priority" => [.. jobs.OrderBy(j => j.State == "PENDING" ? 1 : 0).ThenByDescending(j => j.Detail.Priority).ThenBy(j => j.Time.Submit)],
                "start" => [.. jobs.OrderBy(j => j.Time.Start ?? j.Time.ExpectedStart ?? DateTimeOffset.MaxValue)],
                _ => jobs,
            };
            if (parse.GetValue(json))
            {
                Console.WriteLine(ConductorClient.Serialize(new { jobs }));
                return ExitCodes.Ok;
            }

            var showPriority = parse.GetValue(priority) || parse.GetValue(sort) == "priority";
            var showStart = parse.GetValue(start);
            var headers = new List<string> { "JOBID", "PARTITION", "NAME", "ACCOUNT", "ST", "TIME", "CPUS" };
            if (showPriority)
            {
                headers.Add("PRIORITY");
            }

            if (showStart)
            {
                headers.Add("START_TIME");
            }

            headers.Add("NODELIST(REASON)");
            var table = ClientCommand.PlainTable([.. headers]);
            table.Columns[0].RightAligned();
            table.Columns[5].RightAligned();
            table.Columns[6].RightAligned();
            foreach (var (id, j) in ArrayRows.Collapse(jobs))
            {
                var cells = new List<Text>
                {
                    new(id),
                    new(j.Detail.Partition),
                    new(j.Detail.Name),
                    new(j.Detail.Account),
                    new(Display.Compact(j.State), Display.StateStyle(j.State)),
                    new(Display.Elapsed(j)),
                    new(j.Detail.Cpus.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                };
                if (showPriority)
                {
                    cells.Add(new(j.Detail.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                }

                if (showStart)
                {
                    var at = j.Time.Start ?? j.Time.ExpectedStart;
                    cells.Add(new(at is { } t ? t.ToLocalTime().ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "N/A"));
                }

                cells.Add(new(Display.NodeOrReason(j)));
                table.AddRow(cells.ToArray());
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
