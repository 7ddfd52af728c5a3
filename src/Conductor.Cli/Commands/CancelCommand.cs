using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary>
/// <c>conductor cancel</c>: scancel. Idempotent: cancelling an ended job changes nothing. With <c>--signal</c> the
/// running jobs get that signal and go on; filters (<c>--state</c>, <c>--name</c>, <c>--account</c>, <c>--user</c>,
/// <c>--me</c>) choose the jobs, or narrow the ids given.
/// </summary>
public static class CancelCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("job-id") { Description = "The jobs to cancel (or signal); none when filters choose them.", Arity = ArgumentArity.ZeroOrMore, HelpName = "ID" };
        var quiet = new Option<bool>("--quiet", "-Q") { Description = "Print nothing for jobs that were cancelled or had already ended." };
        var signal = new Option<string?>("--signal", "-s") { Description = "Send this signal (USR1, SIGUSR1 or 10) to the running jobs instead of cancelling them, like scancel -s.", HelpName = "SIGNAL" };
        var batch = new Option<bool>("--batch", "-b") { Description = "With --signal: signal only the batch script's shell, not every process of the job." };
        var state = new Option<string?>("--state", "-t") { Description = "Only jobs in these states: PENDING, RUNNING (or PD, R).", HelpName = "STATES" };
        var name = new Option<string?>("--name", "-n") { Description = "Only jobs with this name (comma-separated names).", HelpName = "NAME" };
        var account = new Option<string?>("--account", "-A") { Description = "Only jobs charged to this account.", HelpName = "ACCOUNT" };
        var user = new Option<string?>("--user", "-u") { Description = "Only this user's jobs.", HelpName = "USER" };
        var partition = new Option<string?>("--partition", "-p") { Description = "Only jobs in this partition.", HelpName = "PARTITION" };
        var me = new Option<bool>("--me") { Description = "Only your own jobs." };
        var server = ClientCommand.ServerOption();
        var command = new Command("cancel", "Cancel jobs, like scancel: a pending job ends at once, a running one gets SIGTERM, then SIGKILL after the grace period. --signal sends a signal instead.")
        {
            ids, signal, batch, state, name, account, user, partition, me, quiet, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var given = ClientCommand.JobIds(parse.GetValue(ids)!);
            var states = ClientCommand.States(parse.GetValue(state), null);
            if (states?.Any(s => s.IsTerminal()) == true)
            {
                throw new CliException(ExitCodes.Usage, "--state may name only PENDING and RUNNING: ended jobs cannot be cancelled.");
            }

            int? signalNumber = null;
            if (parse.GetValue(signal) is { } signalText)
            {
                signalNumber = SignalNumbers.TryParse(signalText, out var n)
                    ? n
                    : throw new CliException(ExitCodes.Usage, $"--signal '{signalText}' is not a signal; use a name such as USR1 or a number from 1 to {SignalNumbers.Max}.");
            }
            else if (parse.GetValue(batch))
            {
                throw new CliException(ExitCodes.Usage, "--batch needs --signal: it says which processes get the signal.");
            }

            var users = List(parse.GetValue(user));
            if (parse.GetValue(me))
            {
                users.Add((await client.GetAsync<WhoAmIView>("/api/v1/whoami", ct)).User);
            }

            var names = List(parse.GetValue(name));
            var accounts = List(parse.GetValue(account));
            var partitions = List(parse.GetValue(partition));
            var filtered = states is not null || users.Count + names.Count + accounts.Count + partitions.Count > 0;
            if (given.Count == 0 && !filtered)
            {
                throw new CliException(ExitCodes.Usage, "name the jobs to cancel: give job ids, or filters such as --state, --name, --account, --user or --me.");
            }

            bool Matches(JobView j) =>
                (states is null || states.Any(s => s.ToSlurmName() == j.State)) &&
                (users.Count == 0 || users.Contains(j.Detail.User)) &&
                (names.Count == 0 || names.Contains(j.Detail.Name)) &&
                (accounts.Count == 0 || accounts.Contains(j.Detail.Account)) &&
                (partitions.Count == 0 || partitions.Contains(j.Detail.Partition));

            var code = ExitCodes.Ok;
            IEnumerable<string> targets;
            if (given.Count == 0)
            {
                // A signal goes to running jobs only: a pending job has no process to get it.
                var active = await QueueCommand.ListAllAsync(client, states ?? (signalNumber is null ? [JobState.Pending, JobState.Running] : [JobState.Running]), null, null, ct);
                targets = active.Where(Matches).Select(j => j.JobId);
            }
            else if (filtered)
            {
                // With filters, a job named by its id is acted on only when it matches them too.
                var chosen = new List<string>();
                foreach (var id in given)
                {
                    try
                    {
                        if (Matches(await client.GetAsync<JobView>($"/api/v1/jobs/{ClientCommand.Path(id)}", ct)))
                        {
                            chosen.Add(id.ToString());
                        }
                    }
                    catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
                    {
                        code = ExitCodes.Fail(ExitCodes.NotFound, e.Message);
                    }
                }

                targets = chosen;
            }
            else
            {
                targets = given.Select(i => i.ToString());
            }

            foreach (var id in targets)
            {
                try
                {
                    if (signalNumber is { } number)
                    {
                        await client.PostAsync<JobActionResponse>($"/api/v1/jobs/{Uri.EscapeDataString(id)}/signal", new SignalRequestBody(number.ToString(System.Globalization.CultureInfo.InvariantCulture), parse.GetValue(batch)), ct);
                        if (!parse.GetValue(quiet))
                        {
                            Console.WriteLine($"Sent signal {number} to job {id}");
                        }

                        continue;
                    }

                    var result = await client.PostAsync<CancelResponse>($"/api/v1/jobs/{Uri.EscapeDataString(id)}/cancel", null, ct);
                    if (!parse.GetValue(quiet))
                    {
                        Console.WriteLine(result.Changed ? $"Cancelled job {id}" : $"Job {id} had already ended: {result.State}");
                    }
                }
                catch (CliException e) when (e.ExitCode != ExitCodes.Unreachable)
                {
                    code = ExitCodes.Fail(e.ExitCode, e.Message);
                }
            }

            return code;
        });
        return command;
    }

    private static List<string> List(string? text) =>
        text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList() ?? [];
}
