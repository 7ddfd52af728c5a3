using System.Globalization;
using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>How Slurm's commands print times, sizes, dates and columns.</summary>
public static class SlurmFormat
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>squeue's TIME and TIME_LIMIT: <c>0:00</c>, <c>M:SS</c>, <c>H:MM:SS</c>, <c>D-HH:MM:SS</c>.</summary>
    public static string Short(TimeSpan t)
    {
        var total = Math.Max(0, (long)t.TotalSeconds);
        var (d, h, m, s) = (total / 86400, total / 3600 % 24, total / 60 % 60, total % 60);
        return d > 0 ? string.Create(Invariant, $"{d}-{h:00}:{m:00}:{s:00}")
            : h > 0 ? string.Create(Invariant, $"{h}:{m:00}:{s:00}")
            : string.Create(Invariant, $"{m}:{s:00}");
    }

    /// <summary>scontrol's RunTime and sacct's Elapsed: <c>HH:MM:SS</c>, <c>D-HH:MM:SS</c>.</summary>
    public static string Long(TimeSpan t)
    {
        var total = Math.Max(0, (long)t.TotalSeconds);
        var (d, h, m, s) = (total / 86400, total / 3600 % 24, total / 60 % 60, total % 60);
        return d > 0 ? string.Create(Invariant, $"{d}-{h:00}:{m:00}:{s:00}") : string.Create(Invariant, $"{h:00}:{m:00}:{s:00}");
    }

    /// <summary>A limit in squeue's form, <paramref name="unlimited"/> when there is none.</summary>
    public static string Limit(JobView job, bool longForm = false, string unlimited = "UNLIMITED") =>
        job.Time.LimitSeconds is { } s ? (longForm ? Long(TimeSpan.FromSeconds(s)) : Short(TimeSpan.FromSeconds(s))) : unlimited;

    /// <summary>sacct's TotalCPU: <c>MM:SS.mmm</c> under an hour, else <c>HH:MM:SS</c> or <c>D-HH:MM:SS</c>.</summary>
    public static string CpuTime(double? seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds ?? 0));
        return t.TotalHours >= 1 ? Long(t) : string.Create(Invariant, $"{(int)t.TotalMinutes:00}:{t.Seconds:00}.{t.Milliseconds:000}");
    }

    /// <summary>A date as Slurm prints it: local time, <c>2026-11-29T09:40:15</c>, or <paramref name="none"/>.</summary>
    public static string Date(DateTimeOffset? t, string none = "Unknown") =>
        t is { } v ? v.ToLocalTime().ToString("yyyy-MM-dd'T'HH:mm:ss", Invariant) : none;

    /// <summary>Memory in Slurm's units: <c>100M</c>, <c>4G</c>; <c>0</c> when none was asked for.</summary>
    public static string Memory(long? mib) => mib is { } m && m > 0 ? Core.Parsing.MemorySize.Format(m) : "0";

    public static string Number(long n) => n.ToString(Invariant);

    /// <summary>Pads or cuts <paramref name="value"/> to <paramref name="width"/>: right-justified or left-justified, as printf's <c>%*.*s</c>.</summary>
    public static string Fit(string value, int width, bool right)
    {
        if (width <= 0)
        {
            return value;
        }

        var cut = value.Length > width ? value[..width] : value;
        return right ? cut.PadLeft(width) : cut.PadRight(width);
    }

    /// <summary>The state a job is in: <see cref="JobState"/> from its wire name.</summary>
    public static JobState State(JobView job) => JobStates.TryParse(job.State, out var s) ? s : JobState.Pending;

    /// <summary>Slurm's pending reason, or <c>None</c>; a finished job's reason as Slurm gives it.</summary>
    public static string Reason(JobView job) => State(job) switch
    {
        JobState.Pending => job.Reason ?? "None",
        JobState.Failed or JobState.OutOfMemory => "NonZeroExitCode",
        JobState.Timeout => "TimeLimit",
        JobState.NodeFail => "NodeDown",
        _ => "None",
    };

    /// <summary>squeue's NODELIST(REASON): the node of a job that runs or ran without a reason to give, else the reason in parentheses.</summary>
    public static string NodeOrReason(JobView job) =>
        job.Detail.NodeList.Length > 0 && State(job) != JobState.Pending && Reason(job) == "None" ? job.Detail.NodeList : $"({Reason(job)})";

    /// <summary>The job's standard output file: where it was written, or where it will be (its pattern expanded, %N still open).</summary>
    public static string StdoutPath(JobView job) => job.Detail.StdoutPath ?? Expand(job, job.Detail.StandardOutput);

    /// <summary>The job's standard error file, which is its output file unless it asked for another.</summary>
    public static string StderrPath(JobView job) =>
        job.Detail.StderrPath ?? Expand(job, job.Detail.StandardError ?? job.Detail.StandardOutput);

    private static string Expand(JobView job, string pattern) =>
        Core.Parsing.OutputPattern.Resolve(pattern, new Core.Parsing.OutputPatternValues(job.JobId, job.Detail.Name, job.Detail.Account, "%N"), job.Detail.WorkDir);

    /// <summary>
    /// squeue's TRES_PER_NODE and scontrol's <c>TresPerNode=</c>: what the job asked per node (<c>--gres</c>,
    /// <c>--gpus-per-node</c>) as <c>gres:gpu:2</c>, or <c>N/A</c>. GPUs asked with <c>--gpus</c> or
    /// <c>--gpus-per-task</c> are shown by <see cref="TresPerJob"/> and <see cref="TresPerTask"/> instead, as Slurm does.
    /// </summary>
    public static string TresPerNode(JobView job)
    {
        var d = job.Detail;
        var asked = (d.GpusPerJob ?? 0) + ((d.GpusPerTask ?? 0) * Math.Max(1, d.Ntasks));
        var perNode = GresList.Of(Gres(job).Items.Select(i => i is { Name: GresDevice.Gpu, Type: null } ? i with { Count = i.Count - asked } : i));
        return perNode.IsEmpty ? "N/A" : string.Join(',', perNode.Items.Select(i => "gres:" + i));
    }

    /// <summary>squeue's TRES_PER_JOB and scontrol's <c>TresPerJob=</c>: the GPUs asked with <c>--gpus</c> (<c>gres:gpu:2</c>), or <c>N/A</c>.</summary>
    public static string TresPerJob(JobView job) => job.Detail.GpusPerJob is { } n ? $"gres:gpu:{n.ToString(Invariant)}" : "N/A";

    /// <summary>squeue's TRES_PER_TASK and scontrol's <c>TresPerTask=</c>: the GPUs asked with <c>--gpus-per-task</c>, or <c>N/A</c>.</summary>
    public static string TresPerTask(JobView job) => job.Detail.GpusPerTask is { } n ? $"gres:gpu:{n.ToString(Invariant)}" : "N/A";

    /// <summary>The job's generic resources, parsed; none when it asked for none.</summary>
    public static GresList Gres(JobView job) =>
        GresList.TryParse(job.Detail.Gres, out var gres, out _) ? gres : GresList.None;

    /// <summary>
    /// The trackable resources of a job as Slurm lists them (<c>cpu=2,mem=100M,node=1,billing=2,gres/gpu=1</c>): GPUs
    /// appear as on a cluster that accounts them (<c>AccountingStorageTRES=gres/gpu</c>).
    /// </summary>
    public static string Tres(JobView job)
    {
        var d = job.Detail;
        var gpus = Gres(job).Gpus;
        return $"cpu={d.Cpus}" + (d.MemoryMib is > 0 ? $",mem={d.MemoryMib}M" : "") + $",node=1,billing={d.Cpus}" + (gpus > 0 ? $",gres/gpu={gpus}" : "");
    }

    /// <summary>Numbers as Slurm's ranges: <c>0,1,2,5</c> → <c>0-2,5</c>.</summary>
    public static string Ranges(IEnumerable<int> values)
    {
        var numbers = values.Distinct().Order().ToList();
        var text = new StringBuilder();
        for (var i = 0; i < numbers.Count; i++)
        {
            var j = i;
            while (j + 1 < numbers.Count && numbers[j + 1] == numbers[j] + 1)
            {
                j++;
            }

            text.Append(text.Length > 0 ? "," : "").Append(numbers[i].ToString(Invariant));
            if (j > i)
            {
                text.Append('-').Append(numbers[j].ToString(Invariant));
            }

            i = j;
        }

        return text.ToString();
    }

    /// <summary>Comma-separated numbers (<c>0,1</c>), as the API lists cores and GPU indices.</summary>
    public static IEnumerable<int> Numbers(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(n => int.Parse(n, Invariant));

    /// <summary>A job's priority as squeue shows and sorts it: 0 for a held job, as in Slurm.</summary>
    public static long Priority(JobView job) => job.Detail.Hold ? 0 : job.Detail.Priority;

    /// <summary>The user a job belongs to: its account, the only owner Conductor records.</summary>
    public static string User(JobView job) => job.Detail.Account;

    /// <summary>Compresses node names as Slurm's hostlists do: <c>node01,node02,node05</c> → <c>node[01-02,05]</c>.</summary>
    public static string HostList(IEnumerable<string> names)
    {
        var groups = new List<(string Prefix, List<string> Numbers)>();
        var plain = new List<string>();
        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            var digits = name.Length - name.Reverse().TakeWhile(char.IsAsciiDigit).Count();
            if (digits == name.Length || digits == 0)
            {
                plain.Add(name);
                continue;
            }

            var prefix = name[..digits];
            var group = groups.FindIndex(g => g.Prefix == prefix);
            if (group < 0)
            {
                groups.Add((prefix, [name[digits..]]));
            }
            else
            {
                groups[group].Numbers.Add(name[digits..]);
            }
        }

        var parts = new List<string>(plain);
        foreach (var (prefix, numbers) in groups)
        {
            if (numbers.Count == 1)
            {
                parts.Add(prefix + numbers[0]);
                continue;
            }

            numbers.Sort((a, b) => a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b));
            var ranges = new StringBuilder();
            for (var i = 0; i < numbers.Count; i++)
            {
                var j = i;
                while (j + 1 < numbers.Count && Follows(numbers[j], numbers[j + 1]))
                {
                    j++;
                }

                ranges.Append(ranges.Length > 0 ? "," : "").Append(numbers[i]);
                if (j > i)
                {
                    ranges.Append('-').Append(numbers[j]);
                }

                i = j;
            }

            parts.Add($"{prefix}[{ranges}]");
        }

        return string.Join(',', parts);
    }

    /// <summary>Whether <paramref name="next"/> is the number after <paramref name="number"/> in the same zero-padding.</summary>
    private static bool Follows(string number, string next) =>
        long.Parse(next, Invariant) == long.Parse(number, Invariant) + 1 &&
        (next.Length == number.Length || (number[0] != '0' && next[0] != '0'));

    /// <summary>State names and squeue's codes, as -t and -s take them: PD, R, CD, CA, F, TO, OOM, NF, or names; "all".</summary>
    public static IReadOnlyList<JobState>? ParseStates(string program, string text, IReadOnlyList<JobState>? all)
    {
        var states = new List<JobState>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals("all", StringComparison.OrdinalIgnoreCase))
            {
                return all;
            }

            var match = JobStates.All.Where(s => s.ToCompactCode().Equals(part, StringComparison.OrdinalIgnoreCase)).ToList();
            if (match.Count == 0 && JobStates.TryParse(part, out var named))
            {
                match.Add(named);
            }

            if (match.Count == 0 && part.ToUpperInvariant() is "CG" or "COMPLETING" or "S" or "SUSPENDED" or "PR" or "PREEMPTED" or "BF" or "BOOT_FAIL"
                or "DL" or "DEADLINE" or "RQ" or "REQUEUED" or "SE" or "SPECIAL_EXIT" or "ST" or "STOPPED" or "RH" or "REQUEUE_HOLD" or "RS" or "RESIZING"
                or "RD" or "RESV_DEL_HOLD" or "RF" or "REQUEUE_FED" or "RV" or "REVOKED" or "SI" or "SIGNALING" or "SO" or "STAGE_OUT" or "CF" or "CONFIGURING")
            {
                // Slurm states Conductor never enters: valid, and nothing is in them.
                continue;
            }

            if (match.Count == 0)
            {
                throw new SlurmUsageException($"{program}: error: Invalid job state specified: {part}");
            }

            states.AddRange(match);
        }

        return states;
    }
}
