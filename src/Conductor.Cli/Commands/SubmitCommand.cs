using System.CommandLine;
using System.Text;
using Conductor.Cli.Client;
using Conductor.Core.Parsing;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor submit</c>: sbatch. Options come from the script's #SBATCH lines and the command line, which wins.</summary>
public static class SubmitCommand
{
    /// <summary>Client settings that never travel with a job's environment.</summary>
    public static readonly IReadOnlyList<string> WithheldPrefixes = ["CONDUCTOR_"];

    /// <summary>The API's fields under the names a user typed them, for error messages.</summary>
    public static readonly IReadOnlyDictionary<string, string> FieldNames = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["name"] = "--job-name",
        ["account"] = "--account",
        ["partition"] = "--partition",
        ["cpus_per_task"] = "--cpus-per-task",
        ["ntasks"] = "--ntasks",
        ["ntasks_per_node"] = "--ntasks-per-node",
        ["nodes"] = "--nodes",
        ["memory_per_node"] = "--mem",
        ["memory_per_cpu"] = "--mem-per-cpu",
        ["time_limit"] = "--time",
        ["current_working_directory"] = "--chdir",
        ["standard_output"] = "--output",
        ["standard_error"] = "--error",
        ["environment"] = "--export",
        ["begin"] = "--begin",
        ["nice"] = "--nice",
        ["gres"] = "--gres",
        ["gpus"] = "--gpus",
        ["gpus_per_task"] = "--gpus-per-task",
        ["array"] = "--array",
        ["dependency"] = "--dependency",
        ["kill_on_invalid_dependency"] = "--kill-on-invalid-dep",
        ["arguments"] = "the script's arguments",
        ["script"] = "the script",
    };

    public static Command Create()
    {
        var jobName = new Option<string?>("--job-name", "-J") { Description = "The job's name [the script's file name, or 'wrap'].", HelpName = "NAME" };
        var account = new Option<string?>("--account", "-A") { Description = "Charge the job to this account [the token's account].", HelpName = "ACCOUNT" };
        var partition = new Option<string?>("--partition", "-p") { Description = "The partition to run in [the server's default].", HelpName = "PARTITION" };
        var cpus = new Option<int?>("--cpus-per-task", "-c") { Description = "CPUs for each task [1].", HelpName = "N" };
        var ntasks = new Option<int?>("--ntasks", "-n") { Description = "Tasks; the job gets tasks × CPUs per task cores [1].", HelpName = "N" };
        var ntasksPerNode = new Option<int?>("--ntasks-per-node") { Description = "Tasks on each node [1].", HelpName = "N" };
        var nodes = new Option<int?>("--nodes", "-N") { Description = "Nodes; Conductor runs a job on one node.", HelpName = "N" };
        var mem = new Option<string?>("--mem") { Description = "Memory for the job on its node: 16G, 512M, 1024 (MiB).", HelpName = "SIZE" };
        var memPerCpu = new Option<string?>("--mem-per-cpu") { Description = "Memory for each CPU instead of --mem.", HelpName = "SIZE" };
        var time = new Option<string?>("--time", "-t") { Description = "Time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED [the partition's].", HelpName = "TIME" };
        var chdir = new Option<string?>("--chdir", "-D") { Description = "The directory the job runs in [the current directory].", HelpName = "DIR" };
        var output = new Option<string?>("--output", "-o") { Description = "Standard output file, relative to the job's directory; %j id, %x name, %u account, %N node, %A array id, %a task id [slurm-%j.out].", HelpName = "PATTERN" };
        var error = new Option<string?>("--error", "-e") { Description = "Standard error file [the output file].", HelpName = "PATTERN" };
        var export = new Option<string?>("--export")
        {
            Description = "Environment for the job: ALL (yours, less CONDUCTOR_* settings), NONE, or a list such as ALL,DEBUG=1 or HOME,DEBUG=1 [ALL].",
            HelpName = "ALL|NONE|VARS",
        };
        var exclusive = new Option<bool>("--exclusive") { Description = "Take a whole node." };
        var requeue = new Option<bool>("--requeue") { Description = "Start the job again if its node fails." };
        var hold = new Option<bool>("--hold", "-H") { Description = "Submit held: the job waits until released." };
        var dependency = new Option<string?>("--dependency", "-d")
        {
            Description = "Start only after other jobs: afterok:ID[:ID...], afterany, afternotok, after[:ID+MINUTES], aftercorr, singleton; join with ',' (all) or '?' (any).",
            HelpName = "LIST",
        };
        var killOnInvalidDep = new Option<string?>("--kill-on-invalid-dep")
        {
            Description = "yes: cancel the job once its dependency can never be met; no: leave it pending (DependencyNeverSatisfied) [the server's choice].",
            HelpName = "yes|no",
        };
        var begin = new Option<string?>("--begin", "-b") { Description = "Start no earlier than this: an ISO 8601 time or now+N[seconds|minutes|hours|days].", HelpName = "TIME" };
        var nice = new Option<int?>("--nice") { Description = "Lower the job's priority by N (negative raises it: admin only).", HelpName = "N" };
        var gres = new Option<string?>("--gres") { Description = "Generic resources on the node, e.g. gpu:2 or gpu:a100:1.", HelpName = "LIST" };
        var gpus = new Option<int?>("--gpus", "-G") { Description = "GPUs for the job.", HelpName = "N" };
        var gpusPerTask = new Option<int?>("--gpus-per-task") { Description = "GPUs for each task.", HelpName = "N" };
        var array = new Option<string?>("--array", "-a")
        {
            Description = "Submit an array of tasks: 1-100, 1-100:2 (a step), 1,3,5-7; %N after it runs at most N tasks at once. Each task sees SLURM_ARRAY_TASK_ID.",
            HelpName = "IDS[%N]",
        };
        var wrap = new Option<string?>("--wrap") { Description = "Run this shell command line instead of a script file.", HelpName = "COMMAND" };
        var parsable = new Option<bool>("--parsable") { Description = "Print only the job id." };
        var uid = new Option<string?>("--uid") { Description = "Run the job as this Unix user (a name or a number): the admin only, on a server running as root.", HelpName = "USER" };
        var script = new Argument<string[]>("script")
        {
            Description = "The batch script (- reads it from standard input), then the arguments it gets.",
            Arity = ArgumentArity.ZeroOrMore,
            HelpName = "SCRIPT [ARGS...]",
        };
        var server = ClientCommand.ServerOption();

        var command = new Command("submit", "Submit a batch script, like sbatch. #SBATCH lines at the top of the script are read; the command line wins over them.")
        {
            jobName, account, partition, cpus, ntasks, ntasksPerNode, nodes, mem, memPerCpu, time, chdir, output, error, export,
            exclusive, requeue, hold, dependency, killOnInvalidDep, begin, nice, gres, gpus, gpusPerTask, array, wrap, parsable, uid, server, script,
        };

        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var commandLine = new SbatchOptions
            {
                JobName = parse.GetValue(jobName),
                Account = parse.GetValue(account),
                Partition = parse.GetValue(partition),
                CpusPerTask = parse.GetValue(cpus),
                Ntasks = parse.GetValue(ntasks),
                NtasksPerNode = parse.GetValue(ntasksPerNode),
                Nodes = parse.GetValue(nodes),
                Memory = parse.GetValue(mem),
                MemoryPerCpu = parse.GetValue(memPerCpu),
                Time = parse.GetValue(time),
                Chdir = parse.GetValue(chdir),
                Output = parse.GetValue(output),
                Error = parse.GetValue(error),
                Export = parse.GetValue(export),
                Begin = parse.GetValue(begin),
                Dependency = parse.GetValue(dependency),
                KillOnInvalidDep = parse.GetValue(killOnInvalidDep) is { } kill
                    ? SbatchDirectives.YesNo(kill) ?? throw new CliException(ExitCodes.Usage, $"--kill-on-invalid-dep '{kill}' must be yes or no.")
                    : null,
                Nice = parse.GetValue(nice),
                Gres = parse.GetValue(gres),
                Gpus = parse.GetValue(gpus),
                GpusPerTask = parse.GetValue(gpusPerTask),
                Array = parse.GetValue(array),
                Exclusive = parse.GetValue(exclusive) ? true : null,
                Requeue = parse.GetValue(requeue) ? true : null,
                Hold = parse.GetValue(hold) ? true : null,
                Parsable = parse.GetValue(parsable) ? true : null,
            };
            var words = parse.GetValue(script) ?? [];
            return await SubmitAsync(client, commandLine, parse.GetValue(wrap), words, parse.GetValue(uid), ct);
        }, FieldNames);
        return command;
    }

    private static async Task<int> SubmitAsync(ConductorClient client, SbatchOptions commandLine, string? wrap, string[] words, string? uid, CancellationToken ct)
    {
        string text;
        string defaultName;
        IReadOnlyList<string> arguments;
        if (wrap is not null)
        {
            if (words.Length > 0)
            {
                throw new CliException(ExitCodes.Usage, "give either a script or --wrap, not both.");
            }

            text = $"#!/bin/sh\n# This script was created by conductor submit --wrap.\n\n{wrap}\n";
            defaultName = "wrap";
            arguments = [];
        }
        else if (words.Length == 0)
        {
            throw new CliException(ExitCodes.Usage, "give a script to submit, or --wrap \"COMMAND\"; see conductor submit --help.");
        }
        else
        {
            (text, defaultName) = await ReadScriptAsync(words[0], ct);
            arguments = words[1..];
        }

        var directives = SbatchDirectives.Parse(text);
        if (directives.Errors.Count > 0)
        {
            throw new CliException(ExitCodes.Usage, $"the script's #SBATCH {directives.Errors[0]}.");
        }

        foreach (var warning in directives.Warnings)
        {
            Console.Error.WriteLine($"conductor: #SBATCH {warning}.");
        }

        var options = directives.Options.Overlay(commandLine);
        var submitter = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
        var environment = SbatchExport.Resolve(options.Export, submitter, WithheldPrefixes);
        var spec = options.ToSpecInput(defaultName, Environment.CurrentDirectory, environment, arguments) with { Uid = uid };

        var answer = await client.PostAsync<SubmitResponse>("/api/v1/jobs", new SubmitRequest(spec, text), ct);
        Console.WriteLine(options.Parsable == true ? answer.JobId : $"Submitted batch job {answer.JobId}");
        return ExitCodes.Ok;
    }

    private static async Task<(string Text, string Name)> ReadScriptAsync(string path, CancellationToken ct)
    {
        if (path == "-")
        {
            using var stdin = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
            return (await stdin.ReadToEndAsync(ct), "sbatch");
        }

        try
        {
            return (await File.ReadAllTextAsync(path, ct), Path.GetFileName(path));
        }
        catch (FileNotFoundException)
        {
            throw new CliException(ExitCodes.Usage, $"the script {path} does not exist.");
        }
        catch (DirectoryNotFoundException)
        {
            throw new CliException(ExitCodes.Usage, $"the script {path} does not exist.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(ExitCodes.Usage, $"cannot read the script {path}: {e.Message.TrimEnd('.')}.");
        }
    }

    /// <summary>
    /// sbatch stops reading its own options at the script: <c>submit -c 2 job.sh -v --fast</c> gives <c>-v --fast</c>
    /// to the script. This marks that point with <c>--</c> so the parser does the same, and splits <c>-c2</c> into
    /// <c>-c 2</c>.
    /// </summary>
    public static string[] PrepareArguments(string[] args, Command submit)
    {
        var at = Array.IndexOf(args, submit.Name);
        if (at < 0 || args[..at].Any(a => !a.StartsWith('-')))
        {
            return args;
        }

        var takesValue = submit.Options
            .Where(o => o.Arity.MaximumNumberOfValues > 0 && o.ValueType != typeof(bool))
            .SelectMany(o => o.Aliases.Append(o.Name))
            .ToHashSet(StringComparer.Ordinal);
        var result = new List<string>(args[..(at + 1)]);
        for (var i = at + 1; i < args.Length; i++)
        {
            var word = args[i];
            if (word == "--")
            {
                result.AddRange(args[i..]);
                return [.. result];
            }

            if (word.StartsWith('-') && word.Length > 1)
            {
                if (word.Length > 2 && word[1] != '-' && takesValue.Contains(word[..2]) && word[2] != '=')
                {
                    result.Add(word[..2]);
                    result.Add(word[2..]);
                    continue;
                }

                result.Add(word);
                if (takesValue.Contains(word) && i + 1 < args.Length)
                {
                    result.Add(args[++i]);
                }

                continue;
            }

            // The script: everything after it is its own.
            result.Add(word);
            result.Add("--");
            result.AddRange(args[(i + 1)..]);
            return [.. result];
        }

        return [.. result];
    }
}
