using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>One column of squeue: its <c>%</c> letter, its <c>-O</c> name, its header and how a job fills it.</summary>
public sealed record JobField(char Code, string FormatName, string Header, Func<JobView, DateTimeOffset, string> Value);

/// <summary>squeue's job fields, by <c>-o</c> letter and by <c>-O</c> name.</summary>
public static class JobFields
{
    public static IReadOnlyList<JobField> All { get; } =
    [
        new('i', "JobArrayID", "JOBID", (j, _) => j.DisplayId),
        new('A', "JobID", "JOBID", (j, _) => j.JobId),
        new('F', "ArrayJobID", "ARRAY_JOB_ID", (j, _) => j.ArrayJobId ?? j.JobId),
        new('K', "ArrayTaskID", "ARRAY_TASK_ID", (j, _) => ArrayTaskId(j)),
        new('j', "Name", "NAME", (j, _) => j.Detail.Name),
        new('T', "State", "STATE", (j, _) => j.State),
        new('t', "StateCompact", "ST", (j, _) => SlurmFormat.State(j).ToCompactCode()),
        new('M', "TimeUsed", "TIME", (j, _) => SlurmFormat.Short(TimeSpan.FromSeconds(j.Time.ElapsedSeconds))),
        new('l', "TimeLimit", "TIME_LIMIT", (j, _) => SlurmFormat.Limit(j)),
        new('L', "TimeLeft", "TIME_LEFT", TimeLeft),
        new('D', "NumNodes", "NODES", (_, _) => "1"),
        new('C', "NumCPUs", "CPUS", (j, _) => SlurmFormat.Number(j.Detail.Cpus)),
        new('c', "MinCpus", "MIN_CPUS", (j, _) => SlurmFormat.Number(j.Detail.Cpus)),
        new('R', "ReasonList", "NODELIST(REASON)", (j, _) => SlurmFormat.NodeOrReason(j)),
        new('r', "Reason", "REASON", (j, _) => SlurmFormat.Reason(j)),
        new('N', "NodeList", "NODELIST", (j, _) => j.Detail.NodeList),
        new('B', "BatchHost", "EXEC_HOST", (j, _) => j.Detail.NodeList.Length > 0 ? j.Detail.NodeList : "n/a"),
        new('P', "Partition", "PARTITION", (j, _) => j.Detail.Partition),
        new('u', "UserName", "USER", (j, _) => SlurmFormat.User(j)),
        new('a', "Account", "ACCOUNT", (j, _) => j.Detail.Account),
        new('b', "tres-per-node", "TRES_PER_NODE", (j, _) => SlurmFormat.TresPerNode(j)),
        new('m', "MinMemory", "MIN_MEMORY", (j, _) => SlurmFormat.Memory(j.Detail.MemoryMib)),
        new('V', "SubmitTime", "SUBMIT_TIME", (j, _) => SlurmFormat.Date(j.Time.Submit)),
        new('S', "StartTime", "START_TIME", (j, _) => StartTime(j)),
        new('e', "EndTime", "END_TIME", (j, _) => EndTime(j)),
        new('Z', "WorkDir", "WORK_DIR", (j, _) => j.Detail.WorkDir),
        new('o', "Command", "COMMAND", (_, _) => "(null)"),
        new('Q', "Priority", "PRIORITY", (j, _) => SlurmFormat.Number(SlurmFormat.Priority(j))),
        new('y', "Nice", "NICE", (j, _) => SlurmFormat.Number(j.Detail.Nice)),
        new('E', "Dependency", "DEPENDENCY", (j, _) => j.Detail.Dependency ?? "(null)"),
        new('f', "Feature", "FEATURES", (_, _) => "(null)"),
        new('q', "QOS", "QOS", (_, _) => "(null)"),
        new('v', "Reservation", "RESERVATION", (_, _) => "(null)"),
        new('h', "OverSubscribe", "OVER_SUBSCRIBE", (j, _) => j.Detail.Exclusive ? "NO" : "OK"),
        new('k', "Comment", "COMMENT", (_, _) => "(null)"),
        new('Y', "SchedNodes", "SCHEDNODES", (_, _) => "(null)"),
        new('\0', "STDOUT", "STDOUT", (j, _) => SlurmFormat.StdoutPath(j)),
        new('\0', "STDERR", "STDERR", (j, _) => SlurmFormat.StderrPath(j)),
        new('\0', "cpus-per-task", "CPUS_PER_TASK", (j, _) => SlurmFormat.Number(j.Detail.CpusPerTask)),
        new('\0', "NumTasks", "TASKS", (j, _) => SlurmFormat.Number(j.Detail.Ntasks)),
        new('\0', "ExitCode", "EXIT_CODE", (j, _) => j.ExitCode ?? "0:0"),
        new('\0', "Gres", "TRES_PER_NODE", (j, _) => SlurmFormat.TresPerNode(j)),
        new('\0', "tres-per-job", "TRES_PER_JOB", (j, _) => SlurmFormat.TresPerJob(j)),
        new('\0', "tres-per-task", "TRES_PER_TASK", (j, _) => SlurmFormat.TresPerTask(j)),
        new('\0', "tres-alloc", "TRES_ALLOC", (j, _) => SlurmFormat.Tres(j)),
    ];

    public static JobField? ByCode(char code) => All.FirstOrDefault(f => f.Code == code);

    public static JobField? ByName(string name) => All.FirstOrDefault(f => f.FormatName.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The task id of an array's row: <c>7</c> for a task, the tasks a collapsed line holds as its id shows them
    /// (<c>3-6%2</c> for <c>12_[3-6%2]</c>), <c>N/A</c> outside arrays.
    /// </summary>
    private static string ArrayTaskId(JobView job)
    {
        if (job.ArrayTaskId is { } task)
        {
            return task.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var open = job.DisplayId.IndexOf("_[", StringComparison.Ordinal);
        return open > 0 && job.DisplayId.EndsWith(']') ? job.DisplayId[(open + 2)..^1] : job.ArrayPendingTasks ?? "N/A";
    }

    private static string TimeLeft(JobView job, DateTimeOffset now)
    {
        if (job.Time.LimitSeconds is not { } limit)
        {
            return "UNLIMITED";
        }

        return SlurmFormat.Short(TimeSpan.FromSeconds(Math.Max(0, limit - Math.Floor(job.Time.ElapsedSeconds))));
    }

    private static string StartTime(JobView job) => SlurmFormat.State(job) == JobState.Pending
        ? (job.Detail.Begin is { } begin ? SlurmFormat.Date(begin) : "N/A")
        : SlurmFormat.Date(job.Time.Start, "N/A");

    private static string EndTime(JobView job) => SlurmFormat.State(job) switch
    {
        JobState.Pending => "N/A",
        JobState.Running => job.Time.LimitSeconds is { } s && job.Time.Start is { } start ? SlurmFormat.Date(start.AddSeconds(s)) : "NONE",
        _ => SlurmFormat.Date(job.Time.End, "N/A"),
    };
}

/// <summary>A parsed output format: literal text and fields with their width and justification.</summary>
public sealed record FormatItem(string Literal, JobField? Field, int Width, bool Right);

/// <summary>Reads squeue's <c>-o</c> and <c>-O</c> formats and prints jobs with them.</summary>
public static class JobFormat
{
    /// <summary><c>-o "%.18i %.9P %j"</c>: <c>%[.][width]letter</c>; a dot right-justifies; <c>%%</c> is a percent sign.</summary>
    public static IReadOnlyList<FormatItem> ParsePercent(string program, string format)
    {
        var items = new List<FormatItem>();
        var literal = new System.Text.StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                literal.Append(format[i]);
                continue;
            }

            if (i + 1 < format.Length && format[i + 1] == '%')
            {
                literal.Append('%');
                i++;
                continue;
            }

            if (literal.Length > 0)
            {
                items.Add(new FormatItem(literal.ToString(), null, 0, false));
                literal.Clear();
            }

            var j = i + 1;
            var right = false;
            if (j < format.Length && format[j] == '.')
            {
                right = true;
                j++;
            }

            var digits = j;
            while (j < format.Length && char.IsAsciiDigit(format[j]))
            {
                j++;
            }

            var width = j > digits ? int.Parse(format[digits..j], System.Globalization.CultureInfo.InvariantCulture) : 0;
            if (j >= format.Length)
            {
                throw new SlurmUsageException($"{program}: error: Invalid job format specification: {format[i..]}");
            }

            var field = JobFields.ByCode(format[j])
                ?? throw new SlurmUsageException($"{program}: error: Invalid job format specification: %{format[j]}");
            items.Add(new FormatItem("", field, width, right));
            i = j;
        }

        if (literal.Length > 0)
        {
            items.Add(new FormatItem(literal.ToString(), null, 0, false));
        }

        return items;
    }

    /// <summary><c>-O "JobID:10,State,Reason"</c>: names with an optional <c>:[.]width</c>; 20 wide and left-justified by default.</summary>
    public static IReadOnlyList<FormatItem> ParseNames(string program, string format)
    {
        var items = new List<FormatItem>();
        foreach (var part in format.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? part : part[..colon];
            var width = 20;
            var right = false;
            if (colon >= 0)
            {
                var spec = part[(colon + 1)..];
                if (spec.StartsWith('.'))
                {
                    right = true;
                    spec = spec[1..];
                }

                if (spec.Length > 0 && !int.TryParse(spec, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out width))
                {
                    throw new SlurmUsageException($"{program}: error: Invalid job format specification: {part}");
                }
            }

            var field = JobFields.ByName(name) ?? throw new SlurmUsageException($"{program}: error: Invalid job format specification: {name}");
            items.Add(new FormatItem("", field, width, right));
        }

        return items;
    }

    public static string Header(IReadOnlyList<FormatItem> items) =>
        string.Concat(items.Select(i => i.Field is null ? i.Literal : SlurmFormat.Fit(i.Field.Header, i.Width, i.Right)));

    public static string Line(IReadOnlyList<FormatItem> items, JobView job, DateTimeOffset now) =>
        string.Concat(items.Select(i => i.Field is null ? i.Literal : SlurmFormat.Fit(i.Field.Value(job, now), i.Width, i.Right)));
}
