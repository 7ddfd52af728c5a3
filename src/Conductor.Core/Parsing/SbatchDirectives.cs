using System.Globalization;
using System.Text;
using Conductor.Core.Jobs;

namespace Conductor.Core.Parsing;

/// <summary>
/// sbatch's options, as a script's <c>#SBATCH</c> lines or a command line give them: every field optional,
/// so that two sources can be laid over each other (the command line wins).
/// </summary>
public sealed record SbatchOptions
{
    public string? JobName { get; init; }
    public string? Account { get; init; }
    public string? Partition { get; init; }
    public int? CpusPerTask { get; init; }
    public int? Ntasks { get; init; }
    public int? NtasksPerNode { get; init; }
    public int? Nodes { get; init; }
    public string? Memory { get; init; }
    public string? MemoryPerCpu { get; init; }
    public string? Time { get; init; }
    public string? Chdir { get; init; }
    public string? Output { get; init; }
    public string? Error { get; init; }
    public string? Export { get; init; }
    public string? Begin { get; init; }
    public string? Array { get; init; }
    public string? Dependency { get; init; }

    /// <summary><c>--kill-on-invalid-dep=yes|no</c>.</summary>
    public bool? KillOnInvalidDep { get; init; }

    public bool? Exclusive { get; init; }
    public bool? Requeue { get; init; }
    public bool? Hold { get; init; }
    public int? Nice { get; init; }
    public string? Gres { get; init; }
    public int? Gpus { get; init; }
    public int? GpusPerTask { get; init; }

    /// <summary><c>--gpus-per-node</c>: GPUs asked per node, which the job's GRES list carries.</summary>
    public int? GpusPerNode { get; init; }

    public bool? Parsable { get; init; }

    /// <summary>These options with every field that <paramref name="over"/> sets replaced by its value.</summary>
    public SbatchOptions Overlay(SbatchOptions over) => new()
    {
        JobName = over.JobName ?? JobName,
        Account = over.Account ?? Account,
        Partition = over.Partition ?? Partition,
        CpusPerTask = over.CpusPerTask ?? CpusPerTask,
        Ntasks = over.Ntasks ?? Ntasks,
        NtasksPerNode = over.NtasksPerNode ?? NtasksPerNode,
        Nodes = over.Nodes ?? Nodes,
        Memory = over.Memory ?? (over.MemoryPerCpu is null ? Memory : null),
        MemoryPerCpu = over.MemoryPerCpu ?? (over.Memory is null ? MemoryPerCpu : null),
        Time = over.Time ?? Time,
        Chdir = over.Chdir ?? Chdir,
        Output = over.Output ?? Output,
        Error = over.Error ?? Error,
        Export = over.Export ?? Export,
        Begin = over.Begin ?? Begin,
        Array = over.Array ?? Array,
        Dependency = over.Dependency ?? Dependency,
        KillOnInvalidDep = over.KillOnInvalidDep ?? KillOnInvalidDep,
        Exclusive = over.Exclusive ?? Exclusive,
        Requeue = over.Requeue ?? Requeue,
        Hold = over.Hold ?? Hold,
        Nice = over.Nice ?? Nice,
        Gres = over.Gres ?? Gres,
        Gpus = over.Gpus ?? Gpus,
        GpusPerTask = over.GpusPerTask ?? GpusPerTask,
        GpusPerNode = over.GpusPerNode ?? GpusPerNode,
        Parsable = over.Parsable ?? Parsable,
    };

    /// <summary>The API's job fields for these options.</summary>
    public JobSpecInput ToSpecInput(
        string defaultName,
        string workDir,
        IReadOnlyDictionary<string, string?> environment,
        IReadOnlyList<string> arguments) => new()
        {
            Name = JobName ?? defaultName,
            Account = Account,
            Partition = Partition,
            CpusPerTask = CpusPerTask,
            Ntasks = Ntasks,
            NtasksPerNode = NtasksPerNode,
            Nodes = Nodes,
            MemoryPerNode = Memory,
            MemoryPerCpu = MemoryPerCpu,
            TimeLimit = Time,
            CurrentWorkingDirectory = Chdir is null ? workDir : Path.GetFullPath(Chdir, workDir),
            StandardOutput = Output,
            StandardError = Error,
            Environment = environment,
            Exclusive = Exclusive,
            Requeue = Requeue,
            Hold = Hold,
            Begin = Begin,
            Nice = Nice,
            Gres = GpusPerNode is not { } perNode ? Gres
                : string.IsNullOrEmpty(Gres) ? $"gpu:{perNode.ToString(CultureInfo.InvariantCulture)}"
                : $"{Gres},gpu:{perNode.ToString(CultureInfo.InvariantCulture)}",
            Gpus = Gpus,
            GpusPerTask = GpusPerTask,
            Array = Array,
            Dependency = Dependency,
            KillOnInvalidDependency = KillOnInvalidDep,
            Arguments = arguments,
        };
}

/// <summary>What the <c>#SBATCH</c> lines of a script say, with any lines that could not be understood.</summary>
public sealed record SbatchDirectiveResult(SbatchOptions Options, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);

/// <summary>
/// Reads <c>#SBATCH</c> directives as sbatch does: from the top of the script until the first line that is
/// neither blank nor a comment. Each directive line holds options in sbatch's forms — <c>--name=value</c>,
/// <c>--name value</c>, <c>-c 2</c>, <c>-c2</c> — and anything after a <c>#</c> that starts a word is a comment.
/// </summary>
public static class SbatchDirectives
{
    public const string Prefix = "#SBATCH";

    private enum Kind
    {
        Text,
        Number,
        Flag,
    }

    private sealed record Spec(string Long, char? Short, Kind Kind, Func<SbatchOptions, string, SbatchOptions> Apply);

    private static readonly Spec[] Specs =
    [
        new("job-name", 'J', Kind.Text, (o, v) => o with { JobName = v }),
        new("account", 'A', Kind.Text, (o, v) => o with { Account = v }),
        new("partition", 'p', Kind.Text, (o, v) => o with { Partition = v }),
        new("cpus-per-task", 'c', Kind.Number, (o, v) => o with { CpusPerTask = Int(v) }),
        new("ntasks", 'n', Kind.Number, (o, v) => o with { Ntasks = Int(v) }),
        new("ntasks-per-node", null, Kind.Number, (o, v) => o with { NtasksPerNode = Int(v) }),
        new("nodes", 'N', Kind.Text, (o, v) => o with { Nodes = Int(SingleNodeCount(v)) }),
        new("mem", null, Kind.Text, (o, v) => o with { Memory = v, MemoryPerCpu = null }),
        new("mem-per-cpu", null, Kind.Text, (o, v) => o with { MemoryPerCpu = v, Memory = null }),
        new("time", 't', Kind.Text, (o, v) => o with { Time = v }),
        new("chdir", 'D', Kind.Text, (o, v) => o with { Chdir = v }),
        new("output", 'o', Kind.Text, (o, v) => o with { Output = v }),
        new("error", 'e', Kind.Text, (o, v) => o with { Error = v }),
        new("export", null, Kind.Text, (o, v) => o with { Export = v }),
        new("begin", 'b', Kind.Text, (o, v) => o with { Begin = v }),
        new("array", 'a', Kind.Text, (o, v) => o with { Array = v }),
        new("dependency", 'd', Kind.Text, (o, v) => o with { Dependency = v }),
        new("kill-on-invalid-dep", null, Kind.Text, (o, v) => o with { KillOnInvalidDep = YesNo(v) }),
        new("nice", null, Kind.Number, (o, v) => o with { Nice = Int(v) }),
        new("gres", null, Kind.Text, (o, v) => o with { Gres = v }),
        new("gpus", 'G', Kind.Number, (o, v) => o with { Gpus = Int(v) }),
        new("gpus-per-task", null, Kind.Number, (o, v) => o with { GpusPerTask = Int(v) }),

        // Every job is one node: its GPUs per node are its GPUs, asked per node (Slurm's TresPerNode).
        new("gpus-per-node", null, Kind.Number, (o, v) => o with { GpusPerNode = Int(v) }),
        new("exclusive", null, Kind.Flag, (o, _) => o with { Exclusive = true }),
        new("requeue", null, Kind.Flag, (o, _) => o with { Requeue = true }),
        new("no-requeue", null, Kind.Flag, (o, _) => o with { Requeue = false }),
        new("hold", 'H', Kind.Flag, (o, _) => o with { Hold = true }),
        new("parsable", null, Kind.Flag, (o, _) => o with { Parsable = true }),
    ];

    /// <summary>Slurm options that mean nothing on a Conductor cluster: accepted in scripts with a warning, so existing scripts still run.</summary>
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal)
    {
        "mail-type", "mail-user", "qos", "constraint", "licenses", "reservation",
        "comment", "open-mode", "signal", "wckey", "distribution", "threads-per-core", "hint", "get-user-env",
        "propagate", "uid", "gid", "profile", "mincpus", "tmp", "wait-all-nodes", "container", "cluster", "clusters", "C", "q", "M",
    };

    /// <summary>The directive lines of a script, each with its 1-based line number and its words.</summary>
    public static IReadOnlyList<(int Line, IReadOnlyList<string> Words)> Extract(string script)
    {
        var result = new List<(int, IReadOnlyList<string>)>();
        var lineNumber = 0;
        foreach (var raw in script.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                var rest = line[Prefix.Length..];
                if (rest.Length == 0 || char.IsWhiteSpace(rest[0]))
                {
                    result.Add((lineNumber, Words(rest)));
                }

                continue;
            }

            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }

            break;
        }

        return result;
    }

    /// <summary>Parses every directive of a script into options; problems are reported with their line numbers.</summary>
    public static SbatchDirectiveResult Parse(string script)
    {
        var options = new SbatchOptions();
        var errors = new List<string>();
        var warnings = new List<string>();
        foreach (var (line, words) in Extract(script))
        {
            options = ParseWords(options, words, $"line {line}", errors, warnings);
        }

        return new SbatchDirectiveResult(options, errors, warnings);
    }

    /// <summary>Parses sbatch options from words, e.g. <c>["--cpus-per-task=2", "-t", "1:00"]</c>, onto <paramref name="options"/>.</summary>
    public static SbatchOptions ParseWords(SbatchOptions options, IReadOnlyList<string> words, string where, List<string> errors, List<string> warnings)
    {
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            string name;
            string? value = null;
            Spec? spec;
            if (word.StartsWith("--", StringComparison.Ordinal) && word.Length > 2)
            {
                var eq = word.IndexOf('=', StringComparison.Ordinal);
                name = eq < 0 ? word[2..] : word[2..eq];
                value = eq < 0 ? null : word[(eq + 1)..];
                spec = Array.Find(Specs, s => s.Long == name);
            }
            else if (word.Length >= 2 && word[0] == '-' && word[1] != '-')
            {
                name = word[1].ToString();
                value = word.Length > 2 ? word[2..].TrimStart('=') : null;
                spec = Array.Find(Specs, s => s.Short == word[1]);
            }
            else
            {
                errors.Add($"{where}: '{word}' is not an option; #SBATCH lines hold options such as --cpus-per-task=2");
                continue;
            }

            if (spec is null)
            {
                if (Ignored.Contains(name))
                {
                    // The value, if separate, belongs to the ignored option.
                    if (value is null && i + 1 < words.Count && !words[i + 1].StartsWith('-'))
                    {
                        i++;
                    }

                    warnings.Add($"{where}: {Display(name)} is ignored: Conductor does not use it");
                }
                else
                {
                    errors.Add($"{where}: {Display(name)} is not an sbatch option that Conductor knows");
                }

                continue;
            }

            if (spec.Kind == Kind.Flag)
            {
                // sbatch accepts --exclusive=user and the like; Conductor only knows the plain meaning.
                options = spec.Apply(options, "");
                continue;
            }

            if (value is null)
            {
                if (i + 1 >= words.Count)
                {
                    errors.Add($"{where}: --{spec.Long} needs a value");
                    continue;
                }

                value = words[++i];
            }

            if (spec.Kind == Kind.Number && !IsInt(value))
            {
                errors.Add($"{where}: --{spec.Long} '{value}' is not a whole number");
                continue;
            }

            if (spec.Long == "kill-on-invalid-dep" && YesNo(value) is null)
            {
                errors.Add($"{where}: --kill-on-invalid-dep '{value}' must be yes or no");
                continue;
            }

            if (spec.Long == "nodes" && !IsInt(SingleNodeCount(value)))
            {
                errors.Add($"{where}: --nodes '{value}' is not a node count");
                continue;
            }

            options = spec.Apply(options, value);
        }

        return options;
    }

    /// <summary>Splits a directive's text into words: whitespace separates, quotes group, a word starting with # ends the line.</summary>
    public static IReadOnlyList<string> Words(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        char? quote = null;
        foreach (var c in text)
        {
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    current.Append(c);
                }

                continue;
            }

            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }

                continue;
            }

            if (c == '#' && !inWord)
            {
                break;
            }

            if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
                continue;
            }

            current.Append(c);
            inWord = true;
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }

    private static string Display(string name) => name.Length == 1 ? "-" + name : "--" + name;

    // "-N 1-1" and "-N 1" both mean one node.
    private static string SingleNodeCount(string value)
    {
        var dash = value.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && value[..dash] == value[(dash + 1)..] ? value[..dash] : value;
    }

    private static bool IsInt(string s) => int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);

    private static int Int(string s) => int.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    /// <summary>sbatch's yes or no (any case); null for anything else.</summary>
    public static bool? YesNo(string s) => s.ToLowerInvariant() switch
    {
        "yes" => true,
        "no" => false,
        _ => null,
    };
}

/// <summary>sbatch's <c>--export</c>: which of the submitter's variables the job gets.</summary>
public static class SbatchExport
{
    /// <summary>
    /// <c>ALL</c> (the default) passes the submitter's environment; <c>NONE</c> passes nothing; a list such as
    /// <c>ALL,DEBUG=1</c> or <c>HOME,DEBUG=1</c> passes the named variables, set ones with their value, and
    /// everything else too when it starts with ALL. Variables whose names start with one of
    /// <paramref name="withheldPrefixes"/> are never passed unless named, nor are names a job cannot carry.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> Resolve(
        string? export,
        IReadOnlyDictionary<string, string> submitter,
        IReadOnlyList<string> withheldPrefixes)
    {
        var result = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        var items = (export ?? "ALL").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var item in items)
        {
            if (item.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var (key, value) in submitter)
                {
                    if (IsName(key) && !withheldPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
                    {
                        result[key] = value;
                    }
                }
            }
            else if (item.Equals("NONE", StringComparison.OrdinalIgnoreCase) || item.Equals("NIL", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            else if (item.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
            {
                result[item[..eq]] = item[(eq + 1)..];
            }
            else if (submitter.TryGetValue(item, out var value))
            {
                result[item] = value;
            }
        }

        return result;
    }

    private static bool IsName(string key) =>
        key.Length is > 0 and <= 255 && !char.IsAsciiDigit(key[0]) && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
