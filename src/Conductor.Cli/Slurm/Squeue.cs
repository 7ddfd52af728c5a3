using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>squeue: pending and running jobs in Slurm's columns.</summary>
public static class Squeue
{
    public const string DefaultFormat = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R";
    public const string LongFormat = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R";
    public const string StartFormat = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %20Y %R";

    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        new("jobs", 'j', ValueKind.Optional), new("user", 'u', ValueKind.Required), new("states", 't', ValueKind.Required),
        new("partition", 'p', ValueKind.Required), new("name", 'n', ValueKind.Required), new("account", 'A', ValueKind.Required),
        new("me"), new("noheader", 'h'), new("format", 'o', ValueKind.Required), new("Format", 'O', ValueKind.Required),
        new("start"), new("json"), new("long", 'l'), new("sort", 'S', ValueKind.Required), new("nodelist", 'w', ValueKind.Required),
        new("help"), new("usage"), new("version", 'V'),
        new("all", 'a') { Ignored = true }, new("array", 'r'), new("verbose", 'v') { Ignored = true },
        new("noconvert") { Ignored = true }, new("local") { Ignored = true }, new("federation") { Ignored = true },
        new("hide") { Ignored = true }, new("array-unique") { Ignored = true },
        new("iterate", 'i', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("qos", 'q', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("reservation", 'R', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("steps", 's', ValueKind.Optional) { Refusal = "is not supported by Conductor: jobs have no separate steps" },
        new("clusters", 'M', ValueKind.Required) { Refusal = "is not supported by Conductor: it runs one cluster" },
        new("licenses", 'L', ValueKind.Required) { Refusal = "is not supported by this Conductor server yet" },
        new("yaml") { Refusal = "is not supported by Conductor; use --json" },
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: false);
        if (context.AnswersHelpOrVersion(parsed, "Usage: squeue [-A account] [--me] [-n name] [-o format] [-O fields] [-p partitions] [-t states] [-u user_name] [-j jobs] [--start] [--json] [-h] [-l]"))
        {
            return 0;
        }

        // squeue 1,2 is squeue -j 1,2 when -j is last and its list follows as an operand.
        var idLists = parsed.Values("jobs").Where(v => v.Length > 0).ToList();
        if (parsed.Has("jobs"))
        {
            idLists.AddRange(parsed.Operands);
        }
        else if (parsed.Operands.Count > 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unrecognized option: {parsed.Operands[0]}");
        }

        var ids = context.JobIds(idLists);
        var start = parsed.Has("start");
        IReadOnlyList<JobState>? states = start ? [JobState.Pending] : [JobState.Pending, JobState.Running];
        if (parsed.Value("states") is { } stateText)
        {
            states = SlurmFormat.ParseStates(context.Program, stateText, null);
        }

        var format = parsed.Value("Format") is { } names ? JobFormat.ParseNames(context.Program, names)
            : JobFormat.ParsePercent(context.Program, parsed.Value("format") ?? Environment.GetEnvironmentVariable("SQUEUE_FORMAT")
                ?? (start ? StartFormat : parsed.Has("long") ? LongFormat : DefaultFormat));

        using var client = context.Connect();
        var users = Split(parsed.Values("user"));
        if (parsed.Has("me"))
        {
            users.Add(await SlurmContext.WhoAmIAsync(client, ct));
        }

        var accounts = Split(parsed.Values("account"));
        var partitions = Split(parsed.Values("partition"));
        var jobNames = Split(parsed.Values("name"));
        var nodes = Split(parsed.Values("nodelist"));

        List<JobView> jobs;
        if (ids.Count > 0)
        {
            jobs = [];
            foreach (var id in ids)
            {
                try
                {
                    jobs.Add(await client.GetAsync<JobView>($"/api/v1/jobs/{SlurmContext.Path(id)}", ct));
                }
                catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
                {
                    // Slurm lists the jobs it knows and fails only when it knows none of them.
                }
            }

            if (jobs.Count == 0)
            {
                throw new SlurmUsageException("slurm_load_jobs error: Invalid job id specified");
            }

            jobs = await WithArrayTasksAsync(client, ids, jobs, states, ct);
        }
        else
        {
            jobs = states is { Count: 0 } ? [] : await QueueCommand.ListAllAsync(
                client, states, users.Count == 1 ? users[0] : accounts.Count == 1 ? accounts[0] : null, partitions.Count == 1 ? partitions[0] : null, ct);
        }

        jobs = jobs.Where(j =>
                (states is null || states.Contains(SlurmFormat.State(j))) &&
                (users.Count == 0 || users.Contains(SlurmFormat.User(j))) &&
                (accounts.Count == 0 || accounts.Contains(j.Detail.Account)) &&
                (partitions.Count == 0 || partitions.Contains(j.Detail.Partition)) &&
                (jobNames.Count == 0 || jobNames.Contains(j.Detail.Name)) &&
                (nodes.Count == 0 || nodes.Contains(j.Detail.NodeList)))
            .ToList();
        jobs = Sort(context.Program, jobs, parsed.Value("sort"));

        var now = DateTimeOffset.Now;
        if (parsed.Has("json"))
        {
            context.Out.WriteLine(Json(jobs).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }

        if (parsed.Has("long"))
        {
            context.Out.WriteLine(now.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture));
        }

        if (!parsed.Has("noheader"))
        {
            context.Out.WriteLine(JobFormat.Header(format));
        }

        // Pending tasks of an array are one line (123_[8-100%4]) unless -r asks for one line per task.
        foreach (var (id, job) in parsed.Has("array") ? jobs.SelectMany(EachTask).Select(j => (j.DisplayId, j)).ToList() : ArrayRows.Collapse(jobs))
        {
            context.Out.WriteLine(JobFormat.Line(format, job with { DisplayId = id }, now));
        }

        return 0;
    }

    /// <summary>
    /// <c>squeue -j 12</c> of an array lists the whole array, as Slurm's does: its unstarted tasks and every task that
    /// has started (each a job of its own), not only the array's own row.
    /// </summary>
    private static async Task<List<JobView>> WithArrayTasksAsync(
        ConductorClient client, IReadOnlyList<JobRef> ids, List<JobView> jobs, IReadOnlyList<JobState>? states, CancellationToken ct)
    {
        var arrays = ids.Where(id => !id.IsTasks).Select(id => id.Id.ToString())
            .Where(id => jobs.Any(j => j.ArrayJobId == id && j.ArrayTasks is { Count: > 0 } counts && counts.Keys.Any(k => k != "PENDING")))
            .ToHashSet(StringComparer.Ordinal);
        if (arrays.Count == 0)
        {
            return jobs;
        }

        var tasks = await QueueCommand.ListAllAsync(client, states, null, null, ct);
        var seen = jobs.Select(j => (j.JobId, j.DisplayId)).ToHashSet();
        return [.. jobs, .. tasks.Where(t => t.ArrayJobId is { } a && arrays.Contains(a) && seen.Add((t.JobId, t.DisplayId)))];
    }

    /// <summary><c>squeue -r</c>: an array's row of unstarted tasks as one line per task (<c>12_3</c>, <c>12_4</c>, ...).</summary>
    private static IEnumerable<JobView> EachTask(JobView job) =>
        job.ArrayPendingTasks is { } pending && job.ArrayJobId is { } array
            ? TaskSet.Parse(pending).Ids().Select(t => job with
            {
                DisplayId = $"{array}_{t.ToString(CultureInfo.InvariantCulture)}",
                ArrayTaskId = t,
                ArrayPendingTasks = null,
            })
            : [job];

    /// <summary>Slurm's default order (partition, state, priority descending, then id), or the keys of <c>-S</c>.</summary>
    private static List<JobView> Sort(string program, List<JobView> jobs, string? keys)
    {
        keys ??= "P,t,-p";
        IOrderedEnumerable<JobView>? ordered = null;
        foreach (var raw in keys.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var descending = raw.StartsWith('-');
            var key = raw.TrimStart('-', '+');
            Func<JobView, IComparable> by = key switch
            {
                "i" or "A" or "F" => j => long.Parse(j.JobId, CultureInfo.InvariantCulture),
                "p" or "Q" => j => SlurmFormat.Priority(j),
                "M" => j => j.Time.ElapsedSeconds,
                "l" => j => j.Time.LimitSeconds ?? double.MaxValue,
                "V" => j => j.Time.Submit,
                "S" => j => j.Time.Start ?? DateTimeOffset.MaxValue,
                "e" => j => j.Time.End ?? DateTimeOffset.MaxValue,
                "C" => j => j.Detail.Cpus,
                _ when key.Length == 1 && JobFields.ByCode(key[0]) is { } f => j => f.Value(j, DateTimeOffset.Now),
                _ => throw new SlurmUsageException($"{program}: error: Invalid sort specification: {raw}"),
            };
            ordered = ordered is null
                ? (descending ? jobs.OrderByDescending(by) : jobs.OrderBy(by))
                : (descending ? ordered.ThenByDescending(by) : ordered.ThenBy(by));
        }

        return ordered is null ? jobs : [.. ordered.ThenBy(j => long.Parse(j.JobId, CultureInfo.InvariantCulture))];
    }

    private static List<string> Split(IEnumerable<string> lists) =>
        lists.SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    /// <summary>squeue --json: Slurm's envelope and the job fields scripts read most, under Slurm's names.</summary>
    public static JsonObject Json(IEnumerable<JobView> jobs)
    {
        var list = new JsonArray();
        foreach (var j in jobs)
        {
            list.Add((JsonNode)new JsonObject
            {
                ["account"] = j.Detail.Account,
                ["job_id"] = long.Parse(j.JobId, CultureInfo.InvariantCulture),
                ["name"] = j.Detail.Name,
                ["job_state"] = j.State,
                ["state_reason"] = SlurmFormat.Reason(j) == PendingReasons.RequeuedHeld ? PendingReasons.JobHeldUser : SlurmFormat.Reason(j),
                ["state_description"] = SlurmFormat.Reason(j) == PendingReasons.RequeuedHeld ? PendingReasons.RequeuedHeld : "",
                ["partition"] = j.Detail.Partition,
                ["user_name"] = SlurmFormat.User(j),
                ["cpus"] = j.Detail.Cpus,
                ["cpus_per_task"] = j.Detail.CpusPerTask,
                ["tasks"] = j.Detail.Ntasks,
                ["node_count"] = 1,
                ["nodes"] = j.Detail.NodeList,
                ["memory_per_node"] = j.Detail.MemoryMib ?? 0,
                ["nice"] = j.Detail.Nice,
                ["priority"] = SlurmFormat.Priority(j),
                ["requeue"] = j.Detail.Requeue,
                ["restart_cnt"] = Math.Max(0, j.Attempt - 1),
                ["submit_time"] = j.Time.Submit.ToUnixTimeSeconds(),
                ["eligible_time"] = j.Time.Eligible?.ToUnixTimeSeconds() ?? 0,
                ["start_time"] = j.Time.Start?.ToUnixTimeSeconds() ?? 0,
                ["end_time"] = j.Time.End?.ToUnixTimeSeconds() ?? 0,
                ["time_limit"] = j.Time.LimitSeconds is { } s ? (long)(s / 60) : null,
                ["exit_code"] = ExitCodeNumber(j.ExitCode),
                ["current_working_directory"] = j.Detail.WorkDir,
                ["standard_output"] = SlurmFormat.StdoutPath(j),
                ["standard_error"] = SlurmFormat.StderrPath(j),
                ["tres_per_job"] = Unset(SlurmFormat.TresPerJob(j)),
                ["tres_per_node"] = Unset(SlurmFormat.TresPerNode(j)),
                ["tres_per_task"] = Unset(SlurmFormat.TresPerTask(j)),
            });
        }

        // What squeue prints as N/A, the JSON leaves empty.
        static string Unset(string value) => value == "N/A" ? "" : value;

        return new JsonObject
        {
            ["meta"] = new JsonObject
            {
                ["plugin"] = new JsonObject { ["type"] = "openapi/v0.0.38", ["name"] = "Slurm OpenAPI v0.0.38" },
                ["Slurm"] = new JsonObject { ["version"] = new JsonObject { ["major"] = 22, ["micro"] = 8, ["minor"] = 5 }, ["release"] = "22.05.8" },
            },
            ["errors"] = new JsonArray(),
            ["jobs"] = list,
        };
    }

    /// <summary>The exit status as one number, as Slurm's JSON gives it: the code, or 128+signal.</summary>
    private static int ExitCodeNumber(string? text) =>
        ExitCode.TryParse(text, out var code) ? (code.Signal > 0 ? 128 + code.Signal : code.Code) : 0;
}
