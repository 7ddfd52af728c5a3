using System.Globalization;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Jobs;

/// <summary>What the submitter's side supplies beyond the spec itself.</summary>
public sealed record SubmitDefaults
{
    /// <summary>The account charged when the job names none: its user's name.</summary>
    public required string Account { get; init; }

    /// <summary>When true the caller may charge only <see cref="Account"/> and <see cref="OtherAccounts"/> (not the admin).</summary>
    public bool AccountIsFixed { get; init; }

    /// <summary>When true the caller may give a negative nice, raising the job above others (the admin).</summary>
    public bool MayRaisePriority { get; init; }

    /// <summary>The accounts besides <see cref="Account"/> the caller may charge (the server's <c>accounts</c> file).</summary>
    public IReadOnlyCollection<string> OtherAccounts { get; init; } = [];

    public string Name { get; init; } = "script";
    public string Partition { get; init; } = "default";
    public TimeSpan? TimeLimit { get; init; }
    public TimeSpan? MaxTimeLimit { get; init; }
    public long? MemoryPerCpuMiB { get; init; }
    public string? WorkDir { get; init; }
    public required DateTimeOffset Now { get; init; }
}

/// <summary>Turns a <see cref="JobSpecInput"/> into a validated <see cref="JobSpec"/>, or field errors.</summary>
public static class JobSpecBuilder
{
    public const int MaxCpus = 4096;
    public const int MaxScriptBytes = 4 * 1024 * 1024;
    public const int MaxEnvironmentEntries = 4096;

    /// <summary>The environment's size (NAME=value strings): well inside what exec accepts with the arguments.</summary>
    public const int MaxEnvironmentBytes = 1024 * 1024;

    public const int MaxArguments = 1024;

    /// <summary>The arguments' size, all of them together.</summary>
    public const int MaxArgumentBytes = 256 * 1024;

    public static JobSpec? Build(JobSpecInput input, string? script, SubmitDefaults defaults, ValidationErrors errors)
    {
        ValidateScript(script, errors);

        var name = input.Name ?? defaults.Name;
        if (!IsPrintableLine(name, 255))
        {
            errors.Add("name", "must be 1 to 255 printable characters on one line");
        }

        var account = input.Account ?? defaults.Account;
        if (defaults.AccountIsFixed && input.Account is not null && input.Account != defaults.Account &&
            !defaults.OtherAccounts.Contains(input.Account))
        {
            errors.Add("account", defaults.OtherAccounts.Count == 0
                ? $"must be '{defaults.Account}', the account of your token"
                : $"must be one of '{string.Join("', '", defaults.OtherAccounts.Prepend(defaults.Account))}', the accounts you may charge");
        }
        else if (!IsPlainWord(account, 255))
        {
            errors.Add("account", "must be 1 to 255 characters: letters, digits, '.', '-', '_' or '@'");
        }

        var partition = input.Partition ?? defaults.Partition;
        if (!IsPlainWord(partition, 100))
        {
            errors.Add("partition", "must be 1 to 100 characters: letters, digits, '.', '-', '_'");
        }

        var cpusPerTask = Positive(input.CpusPerTask, "cpus_per_task", MaxCpus, errors);
        var ntasksPerNode = Positive(input.NtasksPerNode, "ntasks_per_node", MaxCpus, errors);
        var ntasks = Positive(input.Ntasks, "ntasks", MaxCpus, errors);
        if (input.Nodes is { } nodes && nodes != 1)
        {
            errors.Add("nodes", nodes < 1 ? "must be at least 1" : "must be 1: multi-node jobs are not supported");
        }

        // One node per job: the tasks are ntasks, else ntasks_per_node (the SCNS-Conductor field), else 1.
        var tasks = input.Ntasks is not null ? ntasks : ntasksPerNode;
        if (input.Ntasks is not null && input.NtasksPerNode is not null && ntasks > ntasksPerNode)
        {
            errors.Add("ntasks", $"of {ntasks} with ntasks_per_node {ntasksPerNode} needs more than one node: multi-node jobs are not supported");
        }

        if ((long)tasks * cpusPerTask > MaxCpus)
        {
            errors.Add("cpus_per_task", $"times the number of tasks is more than {MaxCpus} CPUs");
        }

        long? memory = null;
        if (input.MemoryPerNode is not null && input.MemoryPerCpu is not null)
        {
            errors.Add("memory_per_cpu", "cannot be given together with memory_per_node");
        }
        else if (input.MemoryPerNode is not null)
        {
            memory = Memory(input.MemoryPerNode, "memory_per_node", errors);
        }
        else if (input.MemoryPerCpu is not null)
        {
            memory = Memory(input.MemoryPerCpu, "memory_per_cpu", errors) * tasks * cpusPerTask;
        }
        else if (defaults.MemoryPerCpuMiB is { } perCpu)
        {
            memory = perCpu * tasks * cpusPerTask;
        }

        // As in Slurm, a partition without a default time uses its maximum for jobs that give none.
        var timeLimit = defaults.TimeLimit ?? defaults.MaxTimeLimit;
        if (input.TimeLimit is not null)
        {
            if (TimeLimitFormat.TryParse(input.TimeLimit, out var parsed, out var timeError))
            {
                timeLimit = parsed;
            }
            else
            {
                errors.Add("time_limit", timeError);
            }
        }

        if (defaults.MaxTimeLimit is { } max && (timeLimit is null || timeLimit > max))
        {
            errors.Add("time_limit", $"is more than the partition's maximum of {TimeLimitFormat.Format(max)}");
        }

        var workDir = input.CurrentWorkingDirectory ?? defaults.WorkDir;
        if (workDir is null)
        {
            errors.Add("current_working_directory", "is required: the absolute directory the job runs in");
        }
        else if (!Path.IsPathFullyQualified(workDir) || workDir.Contains('\0', StringComparison.Ordinal) || workDir.Length > 4096)
        {
            errors.Add("current_working_directory", $"'{Shorten(workDir)}' must be an absolute path");
        }

        var stdout = input.StandardOutput ?? "slurm-%j.out";
        if (!OutputPattern.TryValidate(stdout, out var outError))
        {
            errors.Add("standard_output", outError);
        }

        var stderr = input.StandardError;
        if (stderr is not null && !OutputPattern.TryValidate(stderr, out var errError))
        {
            errors.Add("standard_error", errError);
        }

        var environment = Environment(input.Environment, errors);

        JobArraySpec? array = null;
        if (input.Array is not null && !JobArraySpec.TryParse(input.Array, out array, out var arrayError))
        {
            errors.Add("array", arrayError);
        }

        if (!Dependencies.TryParse(input.Dependency, out var dependency, out var dependencyError))
        {
            errors.Add("dependency", dependencyError);
        }

        var nice = input.Nice ?? 0;
        if (nice is < -10000 or > 10000)
        {
            errors.Add("nice", "must be between -10000 and 10000");
        }
        else if (nice < 0 && !defaults.MayRaisePriority)
        {
            errors.Add("nice", "may be negative only for the admin: a negative nice raises the job above others");
        }

        var gres = Gres(input, tasks, errors);

        var maxRetries = input.MaxRetries ?? 0;
        if (maxRetries is < 0 or > 100)
        {
            errors.Add("max_retries", "must be between 0 and 100");
        }

        DateTimeOffset? begin = null;
        if (input.Begin is not null)
        {
            if (TryParseBegin(input.Begin, defaults.Now, out var at))
            {
                begin = at;
            }
            else
            {
                errors.Add("begin", $"'{Shorten(input.Begin)}' is not a time; use an ISO 8601 time such as 2026-01-31T18:00:00Z or now+N[seconds|minutes|hours|days]");
            }
        }

        var arguments = input.Arguments ?? [];
        if (arguments.Count > MaxArguments || arguments.Any(a => a is null || a.Contains('\0', StringComparison.Ordinal)))
        {
            errors.Add("arguments", $"must be at most {MaxArguments} strings without NUL characters");
        }
        else if (arguments.Sum(a => (long)System.Text.Encoding.UTF8.GetByteCount(a) + 1) > MaxArgumentBytes)
        {
            errors.Add("arguments", $"are larger than {MaxArgumentBytes / 1024} KiB together");
        }

        if (!errors.IsEmpty)
        {
            return null;
        }

        return new JobSpec
        {
            Name = name,
            Account = account,
            Partition = partition,
            CpusPerTask = cpusPerTask,
            Ntasks = tasks,
            NtasksPerNode = tasks,
            MemoryMiB = memory,
            TimeLimit = timeLimit,
            WorkDir = Path.GetFullPath(workDir!),
            StdoutPattern = stdout,
            StderrPattern = stderr,
            Environment = environment,
            Arguments = arguments,
            Exclusive = input.Exclusive ?? false,
            Requeue = input.Requeue ?? false,
            MaxRetries = maxRetries,
            Nice = nice,
            Gres = gres,
            GpusPerJob = input.Gpus is > 0 ? input.Gpus : null,
            GpusPerTask = input.GpusPerTask is > 0 ? input.GpusPerTask : null,
            Hold = input.Hold ?? false,
            Begin = begin,
            Array = array,
            Dependency = dependency,
            KillOnInvalidDependency = input.KillOnInvalidDependency,
        };
    }

    /// <summary>The job's generic resources: <c>gres</c>, plus <c>gpus</c> GPUs, plus <c>gpus_per_task</c> for each task.</summary>
    private static GresList Gres(JobSpecInput input, int tasks, ValidationErrors errors)
    {
        if (!GresList.TryParse(input.Gres, out var gres, out var error))
        {
            errors.Add("gres", error!);
            return GresList.None;
        }

        if (input.Gpus is { } gpus)
        {
            if (gpus is < 0 or > 1024)
            {
                errors.Add("gpus", "must be between 0 and 1024");
            }
            else
            {
                gres = gres.Plus(GresList.Of([new GresItem(GresDevice.Gpu, null, gpus)]));
            }
        }

        if (input.GpusPerTask is { } perTask)
        {
            if (perTask is < 0 or > 1024)
            {
                errors.Add("gpus_per_task", "must be between 0 and 1024");
            }
            else
            {
                gres = gres.Plus(GresList.Of([new GresItem(GresDevice.Gpu, null, perTask * Math.Max(1, tasks))]));
            }
        }

        return gres;
    }

    public static void ValidateScript(string? script, ValidationErrors errors)
    {
        if (string.IsNullOrWhiteSpace(script))
        {
            errors.Add("script", "is required and must not be empty or only whitespace");
        }
        else if (script.Length > MaxScriptBytes || System.Text.Encoding.UTF8.GetByteCount(script) > MaxScriptBytes)
        {
            errors.Add("script", $"is larger than {MaxScriptBytes / (1024 * 1024)} MiB");
        }
        else if (script.Contains('\0', StringComparison.Ordinal))
        {
            errors.Add("script", "contains a NUL character");
        }
    }

    /// <summary>The interpreter named by the script's first line, or /bin/bash when it has none.</summary>
    public static IReadOnlyList<string> Interpreter(string script)
    {
        if (!script.StartsWith("#!", StringComparison.Ordinal))
        {
            return ["/bin/bash"];
        }

        var end = script.IndexOf('\n', StringComparison.Ordinal);
        var line = (end < 0 ? script[2..] : script[2..end]).Trim();
        if (line.Length == 0)
        {
            return ["/bin/bash"];
        }

        // Linux passes everything after the interpreter as one argument.
        var space = line.IndexOfAny([' ', '\t']);
        return space < 0 ? [line] : [line[..space], line[(space + 1)..].Trim()];
    }

    private static int Positive(int? value, string field, int max, ValidationErrors errors)
    {
        if (value is null)
        {
            return 1;
        }

        if (value < 1)
        {
            errors.Add(field, "must be at least 1");
            return 1;
        }

        if (value > max)
        {
            errors.Add(field, $"must be at most {max}");
            return 1;
        }

        return value.Value;
    }

    private static long Memory(string text, string field, ValidationErrors errors)
    {
        if (MemorySize.TryParseMiB(text, out var mib, out var error))
        {
            return mib;
        }

        errors.Add(field, error);
        return 0;
    }

    private static Dictionary<string, string> Environment(IReadOnlyDictionary<string, string?>? input, ValidationErrors errors)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (input is null)
        {
            return result;
        }

        if (input.Count > MaxEnvironmentEntries)
        {
            errors.Add("environment", $"has more than {MaxEnvironmentEntries} variables");
            return result;
        }

        var bytes = input.Sum(kv => (long)System.Text.Encoding.UTF8.GetByteCount(kv.Key) + (kv.Value is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(kv.Value)) + 2);
        if (bytes > MaxEnvironmentBytes)
        {
            errors.Add("environment", $"is larger than {MaxEnvironmentBytes / (1024 * 1024)} MiB (names and values together)");
            return result;
        }

        foreach (var (key, value) in input)
        {
            if (!IsEnvironmentName(key))
            {
                errors.Add("environment", $"'{Shorten(key)}' is not a variable name: use letters, digits and '_', not starting with a digit");
            }
            else if (value is null)
            {
                errors.Add("environment", $"'{key}' must have a string value");
            }
            else if (value.Contains('\0', StringComparison.Ordinal))
            {
                errors.Add("environment", $"'{key}' contains a NUL character");
            }
            else
            {
                result[key] = value;
            }
        }

        return result;
    }

    private static bool IsEnvironmentName(string key) =>
        key.Length is > 0 and <= 255 && !char.IsAsciiDigit(key[0]) && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static bool IsPlainWord(string? s, int max) =>
        !string.IsNullOrEmpty(s) && s.Length <= max && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '@');

    private static bool IsPrintableLine(string? s, int max) =>
        !string.IsNullOrWhiteSpace(s) && s.Length <= max && !s.Any(char.IsControl) && !s.Contains('/', StringComparison.Ordinal);

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..61] + "...";

    private static bool TryParseBegin(string text, DateTimeOffset now, out DateTimeOffset at)
    {
        var s = text.Trim();
        if (s.Equals("now", StringComparison.OrdinalIgnoreCase))
        {
            at = now;
            return true;
        }

        if (s.StartsWith("now+", StringComparison.OrdinalIgnoreCase))
        {
            var rest = s[4..];
            var digits = new string(rest.TakeWhile(char.IsAsciiDigit).ToArray());
            var unit = rest[digits.Length..].ToLowerInvariant();
            if (digits.Length is > 0 and <= 9 && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                // Counted in seconds: nine digits of days or hours would overflow a TimeSpan.
                long? unitSeconds = unit switch
                {
                    "" or "s" or "sec" or "second" or "seconds" => 1,
                    "m" or "min" or "minute" or "minutes" => 60,
                    "h" or "hour" or "hours" => 3600,
                    "d" or "day" or "days" => 86400,
                    _ => null,
                };
                if (unitSeconds is { } u && n * u <= 3650L * 86400)
                {
                    at = now + TimeSpan.FromSeconds(n * u);
                    return true;
                }
            }

            at = default;
            return false;
        }

        return DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at);
    }
}
