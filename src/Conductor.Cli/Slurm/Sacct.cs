using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>
/// One accounting record as sacct prints it: a job's allocation, or its batch step (<c>N.batch</c>), which Slurm
/// lists under every job that started.
/// </summary>
public sealed record AccountingRow(JobView Job, bool IsStep);

/// <summary>A sacct field: its name, its default width (negative: left-justified, as sacct's table has it) and its value.</summary>
public sealed record AccountingField(string Name, int Width, Func<AccountingRow, string> Value);

/// <summary>sacct: the accounting of jobs, pending, running and ended, in Slurm's fields.</summary>
public static class Sacct
{
    public const string DefaultFormat = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode";
    public const string BriefFormat = "JobID,State,ExitCode";

    public static IReadOnlyList<AccountingField> Fields { get; } =
    [
        new("Account", 10, r => r.Job.Detail.Account),
        new("AllocCPUS", 10, r => Started(r.Job) ? SlurmFormat.Number(r.Job.Detail.Cpus) : "0"),
        new("AllocNodes", 10, r => Started(r.Job) ? "1" : "0"),
        new("CPUTime", 10, r => SlurmFormat.Long(TimeSpan.FromSeconds(Elapsed(r.Job) * r.Job.Detail.Cpus))),
        new("CPUTimeRAW", 10, r => SlurmFormat.Number((long)(Elapsed(r.Job) * r.Job.Detail.Cpus))),
        new("Elapsed", 10, r => SlurmFormat.Long(TimeSpan.FromSeconds(Elapsed(r.Job)))),
        new("ElapsedRaw", 10, r => SlurmFormat.Number((long)Elapsed(r.Job))),
        new("Eligible", 19, r => SlurmFormat.Date(r.Job.Time.Eligible)),
        new("End", 19, r => SlurmFormat.Date(r.Job.Time.End)),
        new("ExitCode", 8, r => r.Job.ExitCode ?? "0:0"),
        new("JobID", -12, r => r.IsStep ? r.Job.DisplayId + ".batch" : r.Job.DisplayId),
        new("JobIDRaw", -12, r => r.IsStep ? r.Job.JobId + ".batch" : r.Job.JobId),
        new("JobName", 10, r => r.IsStep ? "batch" : r.Job.Detail.Name),
        new("MaxRSS", 10, r => r.IsStep && r.Job.Usage.MaxRssKib is { } k ? SlurmFormat.Number(k) + "K" : ""),
        new("NCPUS", 10, r => Started(r.Job) ? SlurmFormat.Number(r.Job.Detail.Cpus) : "0"),
        new("NNodes", 8, _ => "1"),
        new("NodeList", 15, r => Started(r.Job) ? r.Job.Detail.NodeList : "None assigned"),
        new("NTasks", 8, r => r.IsStep ? "1" : ""),
        new("Partition", 10, r => r.IsStep ? "" : r.Job.Detail.Partition),
        new("Priority", 10, r => SlurmFormat.Number(Math.Max(0, r.Job.Detail.Priority))),
        new("Reason", 22, r => SlurmFormat.Reason(r.Job)),
        new("ReqCPUS", 8, r => SlurmFormat.Number(r.Job.Detail.Cpus)),
        new("ReqMem", 10, r => SlurmFormat.Memory(r.Job.Detail.MemoryMib)),
        new("ReqNodes", 8, _ => "1"),
        new("Start", 19, r => SlurmFormat.Date(r.Job.Time.Start)),
        new("State", 10, r => StepState(r)),
        new("Submit", 19, r => SlurmFormat.Date(r.Job.Time.Submit)),
        new("Timelimit", 10, r => r.IsStep ? "" : SlurmFormat.Limit(r.Job, longForm: true)),
        new("TimelimitRaw", 10, r => r.IsStep ? "" : r.Job.Time.LimitSeconds is { } s ? SlurmFormat.Number((long)(s / 60)) : "UNLIMITED"),
        new("TotalCPU", 10, r => SlurmFormat.CpuTime(r.Job.Usage.CpuSeconds)),
        new("User", 9, r => r.IsStep ? "" : SlurmFormat.User(r.Job)),
        new("WorkDir", 20, r => r.Job.Detail.WorkDir),
    ];

    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        new("jobs", 'j', ValueKind.Required), new("allocations", 'X'), new("noheader", 'n'), new("parsable2", 'P'), new("parsable", 'p'),
        new("format", 'o', ValueKind.Required), new("starttime", 'S', ValueKind.Required), new("endtime", 'E', ValueKind.Required),
        new("state", 's', ValueKind.Required), new("user", 'u', ValueKind.Required), new("uid", null, ValueKind.Required),
        new("name", null, ValueKind.Required), new("json"), new("accounts", 'A', ValueKind.Required), new("partition", 'r', ValueKind.Required),
        new("brief", 'b'), new("helpformat", 'e'), new("delimiter", null, ValueKind.Required), new("help", 'h'), new("usage"), new("version", 'V'),
        new("allusers", 'a') { Ignored = true }, new("allclusters", 'L') { Ignored = true }, new("duplicates", 'D') { Ignored = true },
        new("truncate", 'T') { Ignored = true }, new("noconvert") { Ignored = true }, new("verbose", 'v') { Ignored = true },
        new("local") { Ignored = true }, new("federation") { Ignored = true },
        new("long", 'l') { Refusal = "is not supported by Conductor; name the fields with --format" },
        new("clusters", 'M', ValueKind.Required) { Refusal = "is not supported by Conductor: it runs one cluster" },
        new("units", null, ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("qos", 'q', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("nodelist", 'N', ValueKind.Required) { Refusal = "is not supported by this Conductor server yet" },
        new("completion", 'c') { Refusal = "is not supported by Conductor" },
        new("yaml") { Refusal = "is not supported by Conductor; use --json" },
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: false);
        if (context.AnswersHelpOrVersion(parsed, "Usage: sacct [-j jobs] [-X] [-n] [-P|-p] [--format=fields] [-S time] [-E time] [-s states] [-u users] [--name names] [--json]"))
        {
            return 0;
        }

        if (parsed.Has("helpformat"))
        {
            var names = Fields.Select(f => f.Name).ToList();
            for (var i = 0; i < names.Count; i += 4)
            {
                context.Out.WriteLine(string.Concat(names.Skip(i).Take(4).Select(n => n.PadRight(20))).TrimEnd());
            }

            return 0;
        }

        if (parsed.Operands.Count > 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unknown arguments: {string.Join(' ', parsed.Operands)}");
        }

        var format = ParseFormat(context.Program,
            parsed.Value("format") ?? (parsed.Has("brief") ? BriefFormat : Environment.GetEnvironmentVariable("SACCT_FORMAT") ?? DefaultFormat));
        var ids = context.JobIds(parsed.Values("jobs").Select(StripStep));
        IReadOnlyList<JobState>? states = parsed.Value("state") is { } s ? SlurmFormat.ParseStates(context.Program, s, null) : null;
        var now = DateTimeOffset.Now;
        var from = parsed.Value("starttime") is { } st ? SlurmTime.Parse(context.Program, st, now)
            : ids.Count > 0 ? DateTimeOffset.UnixEpoch : new DateTimeOffset(now.Date, now.Offset);
        var to = parsed.Value("endtime") is { } et ? SlurmTime.Parse(context.Program, et, now) : now.AddYears(100);

        using var client = context.Connect();
        var users = Split(parsed.Values("user").Concat(parsed.Values("uid")));
        var accounts = Split(parsed.Values("accounts"));
        var partitions = Split(parsed.Values("partition"));
        var jobNames = Split(parsed.Values("name"));

        List<JobView> jobs;
        if (ids.Count > 0)
        {
            jobs = [];
            foreach (var id in ids.Distinct())
            {
                try
                {
                    jobs.Add(await client.GetAsync<JobView>($"/api/v1/jobs/{SlurmContext.Path(id)}", ct));
                }
                catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
                {
                    // sacct prints nothing for a job it has no record of.
                }
            }
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
                j.Time.Submit <= to && (j.Time.End ?? now) >= from)
            .OrderBy(j => long.Parse(j.JobId, CultureInfo.InvariantCulture))
            .ToList();

        if (parsed.Has("json"))
        {
            context.Out.WriteLine(Json(jobs).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }

        var rows = new List<AccountingRow>();
        foreach (var job in jobs)
        {
            rows.Add(new AccountingRow(job, false));
            if (!parsed.Has("allocations") && Started(job))
            {
                rows.Add(new AccountingRow(job, true));
            }
        }

        var delimiter = parsed.Value("delimiter") ?? "|";
        var parsable = parsed.Has("parsable2") ? Parsable.NoTrailing : parsed.Has("parsable") ? Parsable.Trailing : Parsable.No;
        if (!parsed.Has("noheader"))
        {
            context.Out.WriteLine(Line(format.Select(f => f.Field.Name).ToList(), format, parsable, delimiter));
            if (parsable == Parsable.No)
            {
                context.Out.WriteLine(Line(format.Select(f => new string('-', Math.Abs(f.Width))).ToList(), format, parsable, delimiter));
            }
        }

        foreach (var row in rows)
        {
            context.Out.WriteLine(Line(format.Select(f => f.Field.Value(row)).ToList(), format, parsable, delimiter));
        }

        return 0;
    }

    private enum Parsable
    {
        No,
        Trailing,
        NoTrailing,
    }

    /// <summary>A field of --format with its width: <c>name</c>, <c>name%30</c> (right-justified) or <c>name%-30</c> (left).</summary>
    public static IReadOnlyList<(AccountingField Field, int Width)> ParseFormat(string program, string format)
    {
        var result = new List<(AccountingField, int)>();
        foreach (var part in format.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var percent = part.IndexOf('%', StringComparison.Ordinal);
            var name = percent < 0 ? part : part[..percent];
            var field = Fields.FirstOrDefault(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new SlurmUsageException($"{program}: error: Invalid field requested: \"{name}\"");
            var width = field.Width;
            if (percent >= 0 && !int.TryParse(part[(percent + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out width))
            {
                throw new SlurmUsageException($"{program}: error: Invalid field width: \"{part}\"");
            }

            result.Add((field, width));
        }

        return result;
    }

    private static string Line(IReadOnlyList<string> values, IReadOnlyList<(AccountingField Field, int Width)> format, Parsable parsable, string delimiter)
    {
        if (parsable == Parsable.NoTrailing)
        {
            return string.Join(delimiter, values);
        }

        if (parsable == Parsable.Trailing)
        {
            return string.Concat(values.Select(v => v + delimiter));
        }

        var line = new StringBuilder();
        for (var i = 0; i < values.Count; i++)
        {
            var width = Math.Abs(format[i].Width);
            var value = values[i];

            // sacct marks a value cut to its column with a '+'.
            if (value.Length > width)
            {
                value = value[..(width - 1)] + "+";
            }

            line.Append(format[i].Width < 0 ? value.PadRight(width) : value.PadLeft(width)).Append(' ');
        }

        return line.ToString();
    }

    private static bool Started(JobView job) => job.Time.Start is not null;

    private static double Elapsed(JobView job) => job.Time.ElapsedSeconds;

    /// <summary>The state of the row: the job's bare state; the batch step of a job ended by its time limit was cancelled.</summary>
    private static string StepState(AccountingRow row) =>
        row.IsStep && SlurmFormat.State(row.Job) == JobState.Timeout ? "CANCELLED" : row.Job.State;

    private static string StripStep(string ids) =>
        string.Join(',', ids.Split(',').Select(id => id.IndexOf('.', StringComparison.Ordinal) is var dot and > 0 ? id[..dot] : id));

    private static List<string> Split(IEnumerable<string> lists) =>
        lists.SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    /// <summary>sacct --json: the shape of Slurm's, with the fields scripts read.</summary>
    public static JsonObject Json(IEnumerable<JobView> jobs)
    {
        var list = new JsonArray();
        foreach (var j in jobs)
        {
            var exit = ExitCode.TryParse(j.ExitCode, out var parsedExit) ? parsedExit : ExitCode.Success;
            var exitCode = new JsonObject
            {
                ["status"] = j.ExitCode is null ? "PENDING" : exit.Signal > 0 ? "SIGNALED" : exit.Code == 0 ? "SUCCESS" : "FAILED",
                ["return_code"] = exit.Code,
            };
            if (exit.Signal > 0)
            {
                exitCode["signal"] = new JsonObject { ["signal_id"] = exit.Signal };
            }

            var time = new JsonObject
            {
                ["elapsed"] = (long)j.Time.ElapsedSeconds,
                ["eligible"] = j.Time.Eligible?.ToUnixTimeSeconds() ?? 0,
                ["submission"] = j.Time.Submit.ToUnixTimeSeconds(),
                ["start"] = j.Time.Start?.ToUnixTimeSeconds() ?? 0,
                ["end"] = j.Time.End?.ToUnixTimeSeconds() ?? 0,
                ["limit"] = j.Time.LimitSeconds is { } s ? (long)(s / 60) : null,
            };
            var steps = new JsonArray();
            if (Started(j))
            {
                steps.Add(new JsonObject
                {
                    ["step"] = new JsonObject { ["job_id"] = long.Parse(j.JobId, CultureInfo.InvariantCulture), ["id"] = j.JobId + ".batch", ["name"] = "batch" },
                    ["state"] = StepState(new AccountingRow(j, true)),
                    ["exit_code"] = exitCode.DeepClone(),
                    ["nodes"] = new JsonObject { ["count"] = 1, ["range"] = j.Detail.NodeList },
                    ["tasks"] = new JsonObject { ["count"] = 1 },
                    ["time"] = new JsonObject
                    {
                        ["elapsed"] = (long)j.Time.ElapsedSeconds,
                        ["start"] = j.Time.Start?.ToUnixTimeSeconds() ?? 0,
                        ["end"] = j.Time.End?.ToUnixTimeSeconds() ?? 0,
                        ["total"] = new JsonObject { ["seconds"] = (long)(j.Usage.CpuSeconds ?? 0) },
                    },
                    ["tres"] = new JsonObject { ["requested"] = new JsonObject { ["max"] = new JsonArray(new JsonObject { ["type"] = "mem", ["count"] = (j.Usage.MaxRssKib ?? 0) * 1024 }) } },
                });
            }

            list.Add(new JsonObject
            {
                ["account"] = j.Detail.Account,
                ["job_id"] = long.Parse(j.JobId, CultureInfo.InvariantCulture),
                ["name"] = j.Detail.Name,
                ["partition"] = j.Detail.Partition,
                ["user"] = SlurmFormat.User(j),
                ["nodes"] = Started(j) ? j.Detail.NodeList : "None assigned",
                ["allocation_nodes"] = Started(j) ? 1 : 0,
                ["state"] = new JsonObject { ["current"] = j.State, ["reason"] = SlurmFormat.Reason(j) },
                ["exit_code"] = exitCode,
                ["time"] = time,
                ["working_directory"] = j.Detail.WorkDir,
                ["required"] = new JsonObject { ["CPUs"] = j.Detail.Cpus, ["memory"] = j.Detail.MemoryMib ?? 0 },
                ["steps"] = steps,
            });
        }

        return new JsonObject
        {
            ["meta"] = new JsonObject
            {
                ["plugin"] = new JsonObject { ["type"] = "openapi/dbv0.0.38", ["name"] = "Slurm OpenAPI slurmdbd v0.0.38" },
                ["Slurm"] = new JsonObject { ["version"] = new JsonObject { ["major"] = 22, ["micro"] = 8, ["minor"] = 5 }, ["release"] = "22.05.8" },
            },
            ["errors"] = new JsonArray(),
            ["jobs"] = list,
        };
    }
}

/// <summary>The times sacct's -S and -E take.</summary>
public static class SlurmTime
{
    private static readonly string[] Layouts =
    [
        "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd", "yyyy-MM-dd'T'HH", "MM/dd/yy", "MM/dd", "MM/dd/yy'-'HH:mm:ss", "MM/dd/yy'-'HH:mm",
        "MM/dd'-'HH:mm:ss", "MM/dd'-'HH:mm", "MMddyy", "MMdd", "MM.dd.yy", "MM.dd",
    ];

    /// <summary>
    /// <c>YYYY-MM-DD[THH:MM[:SS]]</c>, <c>MM/DD[/YY][-HH:MM[:SS]]</c>, <c>MMDD[YY]</c>, <c>HH:MM[:SS]</c> (today),
    /// <c>now[{+|-}N[seconds|minutes|hours|days|weeks]]</c>, <c>today</c>, <c>midnight</c>, <c>noon</c>, <c>tomorrow</c>.
    /// </summary>
    public static DateTimeOffset Parse(string program, string text, DateTimeOffset now)
    {
        var s = text.Trim();
        var today = new DateTimeOffset(now.Date, now.Offset);
        switch (s.ToLowerInvariant())
        {
            case "now":
                return now;
            case "today" or "midnight":
                return today;
            case "noon":
                return today.AddHours(12);
            case "tomorrow":
                return today.AddDays(1);
            case "fika":
                return today.AddHours(15);
            case "teatime":
                return today.AddHours(16);
        }

        if (s.StartsWith("now", StringComparison.OrdinalIgnoreCase) && s.Length > 4 && s[3] is '+' or '-')
        {
            var sign = s[3] == '-' ? -1 : 1;
            var rest = s[4..];
            var digits = new string(rest.TakeWhile(char.IsAsciiDigit).ToArray());
            var unit = rest[digits.Length..].ToLowerInvariant();
            if (digits.Length is > 0 and < 9)
            {
                var n = sign * long.Parse(digits, CultureInfo.InvariantCulture);
                TimeSpan? step = unit switch
                {
                    "" or "s" or "sec" or "second" or "seconds" => TimeSpan.FromSeconds(n),
                    "m" or "min" or "minute" or "minutes" => TimeSpan.FromMinutes(n),
                    "h" or "hour" or "hours" => TimeSpan.FromHours(n),
                    "d" or "day" or "days" => TimeSpan.FromDays(n),
                    "w" or "week" or "weeks" => TimeSpan.FromDays(7 * n),
                    _ => null,
                };
                if (step is { } span)
                {
                    return now + span;
                }
            }
        }

        if (TimeOnly.TryParseExact(s, ["HH:mm:ss", "HH:mm"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return today + time.ToTimeSpan();
        }

        if (DateTime.TryParseExact(s, Layouts, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var date))
        {
            return new DateTimeOffset(date);
        }

        throw new SlurmUsageException($"{program}: error: Invalid time specification (pos=0): {text}");
    }
}
