using System.Text;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
using Conductor.Core.Parsing;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>sbatch: submits a batch script; prints <c>Submitted batch job N</c> (or <c>N</c> with --parsable).</summary>
public static class Sbatch
{
    private const string NotYet = "is not supported by this Conductor server yet";

    /// <summary>Options that carry a job field; they are handed to the #SBATCH parser, so both read them alike.</summary>
    private static readonly SlurmOption[] JobOptions =
    [
        new("job-name", 'J', ValueKind.Required), new("account", 'A', ValueKind.Required), new("partition", 'p', ValueKind.Required),
        new("cpus-per-task", 'c', ValueKind.Required), new("ntasks", 'n', ValueKind.Required), new("ntasks-per-node", null, ValueKind.Required),
        new("nodes", 'N', ValueKind.Required), new("mem", null, ValueKind.Required), new("mem-per-cpu", null, ValueKind.Required),
        new("time", 't', ValueKind.Required), new("chdir", 'D', ValueKind.Required), new("output", 'o', ValueKind.Required),
        new("error", 'e', ValueKind.Required), new("export", null, ValueKind.Required), new("begin", 'b', ValueKind.Required),
        new("array", 'a', ValueKind.Required), new("dependency", 'd', ValueKind.Required), new("nice", null, ValueKind.Optional),
        new("gres", null, ValueKind.Required), new("gpus", 'G', ValueKind.Required), new("gpus-per-task", null, ValueKind.Required),
        new("gpus-per-node", null, ValueKind.Required), new("kill-on-invalid-dep", null, ValueKind.Required),
        new("exclusive", null, ValueKind.Optional), new("requeue"), new("no-requeue"), new("hold", 'H'),
    ];

    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        .. JobOptions,
        new("uid", null, ValueKind.Required), new("parsable"), new("wrap", null, ValueKind.Required), new("quiet", 'Q'), new("wait", 'W'), new("verbose", 'v'),
        new("help", 'h'), new("usage"), new("version", 'V'),
        new("constraint", 'C', ValueKind.Required),

        // Accepted and without effect on a Conductor cluster.
        new("mail-type", null, ValueKind.Required) { Ignored = true }, new("mail-user", null, ValueKind.Required) { Ignored = true },
        new("qos", 'q', ValueKind.Required) { Ignored = true }, new("comment", null, ValueKind.Required) { Ignored = true },
        new("open-mode", null, ValueKind.Required) { Ignored = true }, new("get-user-env", null, ValueKind.Optional) { Ignored = true },
        new("propagate", null, ValueKind.Optional) { Ignored = true }, new("profile", null, ValueKind.Required) { Ignored = true },
        new("wckey", null, ValueKind.Required) { Ignored = true }, new("distribution", 'm', ValueKind.Required) { Ignored = true },
        new("hint", null, ValueKind.Required) { Ignored = true }, new("threads-per-core", null, ValueKind.Required) { Ignored = true },
        new("cpu-freq", null, ValueKind.Required) { Ignored = true }, new("acctg-freq", null, ValueKind.Required) { Ignored = true },
        new("no-kill", 'k', ValueKind.Optional) { Ignored = true },
        new("oversubscribe", 's') { Ignored = true }, new("contiguous") { Ignored = true }, new("spread-job") { Ignored = true },
        new("use-min-nodes") { Ignored = true }, new("export-file", null, ValueKind.Required) { Ignored = true },

        // Slurm options Conductor refuses: a job that asked for them would not get what it asked for.
        new("cpus-per-gpu", null, ValueKind.Required) { Refusal = NotYet }, new("mem-per-gpu", null, ValueKind.Required) { Refusal = NotYet },
        new("test-only") { Refusal = "is not supported by Conductor" }, new("input", 'i', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("gid", null, ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("nodelist", 'w', ValueKind.Required) { Refusal = NotYet }, new("exclude", 'x', ValueKind.Required) { Refusal = NotYet },
        new("nodefile", 'F', ValueKind.Required) { Refusal = NotYet }, new("reservation", null, ValueKind.Required) { Refusal = NotYet },
        new("licenses", 'L', ValueKind.Required) { Refusal = NotYet }, new("signal", null, ValueKind.Required) { Refusal = NotYet },
        new("deadline", null, ValueKind.Required) { Refusal = NotYet }, new("priority", null, ValueKind.Required) { Refusal = NotYet },
        new("mincpus", null, ValueKind.Required) { Refusal = NotYet }, new("tmp", null, ValueKind.Required) { Refusal = NotYet },
        new("clusters", 'M', ValueKind.Required) { Refusal = "is not supported by Conductor: it runs one cluster" },
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: true, usageExitCode: 255);
        if (context.AnswersHelpOrVersion(parsed, "Usage: sbatch [OPTIONS(0)...] [ : [OPTIONS(N)...]] script(0) [args(0)...]", "Conductor's sbatch; see docs/slurm-compatibility.md for the options it supports."))
        {
            return 0;
        }

        foreach (var (option, _) in parsed.Given.Where(g => g.Option.Ignored))
        {
            context.Warn($"{option.Display} is ignored by Conductor");
        }

        if (parsed.Has("constraint"))
        {
            throw new SlurmUsageException($"{context.Program}: error: Batch job submission failed: Invalid feature specification");
        }

        var wrap = parsed.Value("wrap");
        string script;
        string defaultName;
        IReadOnlyList<string> arguments;
        if (wrap is not null)
        {
            if (parsed.Operands.Count > 0)
            {
                throw new SlurmUsageException($"{context.Program}: error: script arguments not permitted with --wrap option");
            }

            script = $"#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{wrap}\n";
            defaultName = "wrap";
            arguments = [];
        }
        else
        {
            var path = parsed.Operands.Count > 0 ? parsed.Operands[0] : null;
            script = await ReadScriptAsync(context, path, ct);
            defaultName = path is null or "-" ? "sbatch" : Path.GetFileName(path);
            arguments = parsed.Operands.Skip(1).ToList();
            if (string.IsNullOrWhiteSpace(script))
            {
                throw new SlurmUsageException($"{context.Program}: error: Batch script is empty!");
            }

            if (!script.StartsWith("#!", StringComparison.Ordinal))
            {
                throw new SlurmUsageException($"{context.Program}: error: This does not look like a batch script.  The first line must start with #! followed by the path to an interpreter.");
            }
        }

        if (SbatchDirectives.Extract(script).Any(d => d.Words.Any(w => w is "-C" or "--constraint" || w.StartsWith("--constraint=", StringComparison.Ordinal) || (w.StartsWith("-C", StringComparison.Ordinal) && w.Length > 2))))
        {
            throw new SlurmUsageException($"{context.Program}: error: Batch job submission failed: Invalid feature specification");
        }

        var directives = SbatchDirectives.Parse(script);
        if (directives.Errors.Count > 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: #SBATCH {directives.Errors[0]}");
        }

        foreach (var warning in directives.Warnings)
        {
            context.Warn($"#SBATCH {warning}");
        }

        var words = parsed.Given.Where(g => JobOptions.Contains(g.Option))
            .Select(g => g.Value is null ? (g.Option.Long == "nice" ? "--nice=100" : $"--{g.Option.Long}") : $"--{g.Option.Long}={g.Value}")
            .ToList();
        var errors = new List<string>();
        var commandLine = SbatchDirectives.ParseWords(new SbatchOptions(), words, "the command line", errors, []);
        if (errors.Count > 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: {errors[0]}");
        }

        // As in sbatch: the command line wins over SBATCH_* variables, which win over #SBATCH lines.
        var options = directives.Options.Overlay(FromEnvironment()).Overlay(commandLine);
        var submitter = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
        var environment = SbatchExport.Resolve(options.Export, submitter, SubmitCommand.WithheldPrefixes);
        var spec = options.ToSpecInput(defaultName, Environment.CurrentDirectory, environment, arguments) with { Uid = parsed.Value("uid") };

        using var client = context.Connect(SubmitCommand.FieldNames);
        SubmitResponse answer;
        try
        {
            answer = await client.PostAsync<SubmitResponse>("/api/v1/jobs", new SubmitRequest(spec, script), ct);
        }
        catch (CliException e) when (e.ExitCode == ExitCodes.Usage)
        {
            throw new SlurmUsageException($"{context.Program}: error: Batch job submission failed: {e.Message.TrimEnd('.')}");
        }

        if (!parsed.Has("quiet"))
        {
            context.Out.WriteLine(parsed.Has("parsable") || options.Parsable == true ? answer.JobId : $"Submitted batch job {answer.JobId}");
        }

        if (!parsed.Has("wait"))
        {
            return 0;
        }

        await context.Out.FlushAsync(ct);
        var job = await WaitAsync(client, answer.JobId, ct);
        return WaitCommand.ExitCodeOf(job);
    }

    /// <summary>sbatch's input variables Conductor reads: SBATCH_ACCOUNT, _PARTITION, _TIMELIMIT, _JOB_NAME, _EXPORT, _EXCLUSIVE, _REQUEUE, _NO_REQUEUE.</summary>
    private static SbatchOptions FromEnvironment()
    {
        static string? Get(string name) => Environment.GetEnvironmentVariable("SBATCH_" + name) is { Length: > 0 } v ? v : null;
        return new SbatchOptions
        {
            Account = Get("ACCOUNT"),
            Partition = Get("PARTITION"),
            Time = Get("TIMELIMIT"),
            JobName = Get("JOB_NAME"),
            Export = Get("EXPORT"),
            Exclusive = Get("EXCLUSIVE") is null ? null : true,
            Requeue = Get("REQUEUE") is not null ? true : Get("NO_REQUEUE") is not null ? false : null,
        };
    }

    /// <summary>Polls until the job ends, as <c>sbatch --wait</c> does.</summary>
    public static async Task<JobView> WaitAsync(ConductorClient client, string id, CancellationToken ct)
    {
        var interval = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var job = await client.GetAsync<JobView>($"/api/v1/jobs/{id}", ct);
            if (SlurmFormat.State(job).IsTerminal())
            {
                return job;
            }

            await Task.Delay(interval, ct);
            interval = TimeSpan.FromMilliseconds(Math.Min(1000, interval.TotalMilliseconds * 1.5));
        }
    }

    private static async Task<string> ReadScriptAsync(SlurmContext context, string? path, CancellationToken ct)
    {
        if (path is null or "-")
        {
            using var stdin = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
            return await stdin.ReadToEndAsync(ct);
        }

        try
        {
            return await File.ReadAllTextAsync(path, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unable to open file {path}");
        }
    }
}
