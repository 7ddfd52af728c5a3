using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>scancel: cancels jobs by id or by filter; silent on success, like Slurm's.</summary>
public static class Scancel
{
    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        new("user", 'u', ValueKind.Required), new("name", 'n', ValueKind.Required), new("state", 't', ValueKind.Required),
        new("partition", 'p', ValueKind.Required), new("account", 'A', ValueKind.Required), new("me"),
        new("quiet", 'Q'), new("verbose", 'v'), new("help"), new("usage"), new("version", 'V'),
        new("batch", 'b'), new("full", 'f') { Ignored = true }, new("hurry", 'H') { Ignored = true },
        new("signal", 's', ValueKind.Required),
        new("interactive", 'i') { Refusal = "is not supported by Conductor" },
        new("nodelist", 'w', ValueKind.Required) { Refusal = "is not supported by this Conductor server yet" },
        new("qos", 'q', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("reservation", 'R', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("clusters", 'M', ValueKind.Required) { Refusal = "is not supported by Conductor: it runs one cluster" },
        new("wckey", null, ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("sibling", null, ValueKind.Required) { Refusal = "is not supported by Conductor" },
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: false);
        if (context.AnswersHelpOrVersion(parsed, "Usage: scancel [-A account] [-b] [--me] [-n job_name] [-p partition] [-Q] [-s signal] [-t PENDING|RUNNING] [-u user_name] [-v] [job_id[.step_id]]"))
        {
            return 0;
        }

        var ids = context.JobIds(parsed.Operands.Select(o => o.EndsWith(".batch", StringComparison.Ordinal) ? o[..^6] : o));
        IReadOnlyList<JobState>? states = null;
        if (parsed.Value("state") is { } stateText)
        {
            states = SlurmFormat.ParseStates(context.Program, stateText, null);
            if (states?.Any(s => s.IsTerminal()) == true)
            {
                throw new SlurmUsageException($"{context.Program}: error: Invalid job state specified: {stateText}; only PENDING, RUNNING or SUSPENDED jobs can be cancelled");
            }
        }

        int? signal = null;
        if (parsed.Value("signal") is { } signalText)
        {
            signal = SignalNumbers.TryParse(signalText, out var number)
                ? number
                : throw new SlurmUsageException($"{context.Program}: error: Invalid job signal: {signalText}");
        }

        var batch = parsed.Has("batch");
        var hasFilter = new[] { "user", "name", "state", "partition", "account", "me" }.Any(parsed.Has);
        if (ids.Count == 0 && !hasFilter)
        {
            throw new SlurmUsageException($"{context.Program}: error: No job identification provided");
        }

        using var client = context.Connect();
        var users = Split(parsed.Values("user"));
        if (parsed.Has("me"))
        {
            users.Add(await SlurmContext.WhoAmIAsync(client, ct));
        }

        var names = Split(parsed.Values("name"));
        var partitions = Split(parsed.Values("partition"));
        var accounts = Split(parsed.Values("account"));
        bool Matches(JobView j) =>
            !SlurmFormat.State(j).IsTerminal() &&
            (states is null || states.Contains(SlurmFormat.State(j))) &&
            (users.Count == 0 || users.Contains(SlurmFormat.User(j))) &&
            (names.Count == 0 || names.Contains(j.Detail.Name)) &&
            (partitions.Count == 0 || partitions.Contains(j.Detail.Partition)) &&
            (accounts.Count == 0 || accounts.Contains(j.Detail.Account));

        var code = 0;
        if (ids.Count == 0)
        {
            var jobs = await QueueCommand.ListAllAsync(client, signal is null ? [JobState.Pending, JobState.Running] : [JobState.Running], users.Count == 1 ? users[0] : null, null, ct);
            foreach (var job in jobs.Where(Matches))
            {
                code |= await CancelAsync(context, client, job.JobId, signal, batch, parsed.Has("verbose"), ct);
            }

            return code;
        }

        foreach (var id in ids)
        {
            if (hasFilter)
            {
                // With filters, an id is cancelled only when the job matches them too.
                JobView job;
                try
                {
                    job = await client.GetAsync<JobView>($"/api/v1/jobs/{SlurmContext.Path(id)}", ct);
                }
                catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
                {
                    Unknown(context, id.ToString(), parsed.Has("verbose"));
                    continue;
                }

                if (!Matches(job))
                {
                    continue;
                }
            }

            code |= await CancelAsync(context, client, id.ToString(), signal, batch, parsed.Has("verbose"), ct);
        }

        return code;
    }

    private static async Task<int> CancelAsync(SlurmContext context, ConductorClient client, string id, int? signal, bool batch, bool verbose, CancellationToken ct)
    {
        try
        {
            if (signal is { } number)
            {
                // scancel --signal: only a running job's processes get it; the job goes on.
                try
                {
                    await client.PostAsync<JobActionResponse>($"/api/v1/jobs/{Uri.EscapeDataString(id)}/signal",
                        new SignalRequestBody(number.ToString(System.Globalization.CultureInfo.InvariantCulture), batch), ct);
                }
                catch (CliException e) when (e.ExitCode == ExitCodes.Usage)
                {
                    // slurmctld refuses a signal to a pending job (it does not keep it for the start), and one to an ended job.
                    context.Fail(e.Message.Contains("is PENDING", StringComparison.Ordinal)
                        ? $"Kill job error on job id {id}: Job can not be altered now, try again later"
                        : $"Kill job error on job id {id}: Job/step already completing or completed");
                    return 1;
                }

                if (verbose)
                {
                    context.Error.WriteLine($"{context.Program}: Signal {number} to job {id}");
                }

                return 0;
            }

            var result = await client.PostAsync<CancelResponse>($"/api/v1/jobs/{Uri.EscapeDataString(id)}/cancel", null, ct);
            if (verbose)
            {
                context.Error.WriteLine($"{context.Program}: Terminating job {id}");
            }

            // Slurm's scancel succeeds quietly on a job that has ended already; -v says so.
            if (!result.Changed && verbose)
            {
                context.Fail($"Kill job error on job id {id}: Job/step already completing or completed");
            }

            return 0;
        }
        catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
        {
            Unknown(context, id, verbose);
            return 0;
        }
    }

    /// <summary>An id the server does not know: Slurm's scancel passes over it quietly (exit 0), and says so with -v.</summary>
    private static void Unknown(SlurmContext context, string id, bool verbose)
    {
        if (verbose)
        {
            context.Error.WriteLine($"{context.Program}: Terminating job {id}");
            context.Fail($"Kill job error on job id {id}: Invalid job id specified");
        }
    }

    private static List<string> Split(IEnumerable<string> lists) =>
        lists.SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
}
