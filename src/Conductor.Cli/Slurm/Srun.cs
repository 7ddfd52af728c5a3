using System.Diagnostics;
using System.Globalization;
using System.Text;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Parsing;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>
/// srun: inside a job, runs a step — the command, once per task — on the job's own CPUs and returns its exit code;
/// outside a job, submits the command as a job, streams its output and returns its exit code.
/// </summary>
public static class Srun
{
    private const string NotYet = "is not supported by this Conductor server yet";

    /// <summary>Options that carry a job field when srun submits a job of its own.</summary>
    private static readonly SlurmOption[] JobOptions =
    [
        new("job-name", 'J', ValueKind.Required), new("account", 'A', ValueKind.Required), new("partition", 'p', ValueKind.Required),
        new("cpus-per-task", 'c', ValueKind.Required), new("ntasks", 'n', ValueKind.Required), new("ntasks-per-node", null, ValueKind.Required),
        new("nodes", 'N', ValueKind.Required), new("mem", null, ValueKind.Required), new("mem-per-cpu", null, ValueKind.Required),
        new("time", 't', ValueKind.Required), new("chdir", 'D', ValueKind.Required), new("output", 'o', ValueKind.Required),
        new("error", 'e', ValueKind.Required), new("export", null, ValueKind.Required), new("begin", 'b', ValueKind.Required),
        new("dependency", 'd', ValueKind.Required), new("nice", null, ValueKind.Optional), new("exclusive", null, ValueKind.Optional),
        new("hold", 'H'), new("gres", null, ValueKind.Required), new("gpus", 'G', ValueKind.Required),
        new("gpus-per-task", null, ValueKind.Required), new("gpus-per-node", null, ValueKind.Required),
    ];

    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        .. JobOptions,
        new("label", 'l'), new("quiet", 'Q'), new("verbose", 'v'), new("help", 'h'), new("usage"), new("version", 'V'),
        new("cpu-bind", null, ValueKind.Required) { Ignored = true }, new("cpu_bind", null, ValueKind.Required) { Ignored = true },
        new("mpi", null, ValueKind.Required) { Ignored = true }, new("unbuffered", 'u') { Ignored = true },
        new("overlap") { Ignored = true }, new("exact") { Ignored = true }, new("kill-on-bad-exit", 'K', ValueKind.Optional) { Ignored = true },
        new("distribution", 'm', ValueKind.Required) { Ignored = true }, new("hint", null, ValueKind.Required) { Ignored = true },
        new("mem-bind", null, ValueKind.Required) { Ignored = true }, new("wait", 'W', ValueKind.Required) { Ignored = true },
        new("qos", 'q', ValueKind.Required) { Ignored = true }, new("mail-type", null, ValueKind.Required) { Ignored = true },
        new("mail-user", null, ValueKind.Required) { Ignored = true }, new("comment", null, ValueKind.Required) { Ignored = true },
        new("propagate", null, ValueKind.Optional) { Ignored = true },
        new("pty") { Refusal = "is not supported by Conductor" }, new("input", 'i', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("multi-prog") { Refusal = NotYet }, new("jobid", null, ValueKind.Required) { Refusal = NotYet },
        new("nodelist", 'w', ValueKind.Required) { Refusal = NotYet }, new("exclude", 'x', ValueKind.Required) { Refusal = NotYet },
        new("constraint", 'C', ValueKind.Required) { Refusal = "is not supported by Conductor: nodes have no features" },
        new("test-only") { Refusal = "is not supported by Conductor" }, new("array", 'a', ValueKind.Required) { Refusal = "is not supported by srun" },
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: true, usageExitCode: 255);
        if (context.AnswersHelpOrVersion(parsed, "Usage: srun [OPTIONS(0)...] executable(0) [args(0)...]"))
        {
            return 0;
        }

        if (parsed.Operands.Count == 0)
        {
            throw new SlurmUsageException($"{context.Program}: fatal: No command given to execute.");
        }

        return Environment.GetEnvironmentVariable("SLURM_JOB_ID") is { Length: > 0 } jobId
            ? await RunStepAsync(context, parsed, jobId, ct)
            : await RunJobAsync(context, parsed, ct);
    }

    /// <summary>Inside a job: the command once per task, with the step's variables, on the job's CPUs (which this process already has).</summary>
    private static async Task<int> RunStepAsync(SlurmContext context, ParsedArguments parsed, string jobId, CancellationToken ct)
    {
        var jobTasks = Number(Environment.GetEnvironmentVariable("SLURM_NTASKS")) ?? 1;
        var cpusOnNode = Number(Environment.GetEnvironmentVariable("SLURM_CPUS_ON_NODE")) ?? int.MaxValue;
        var tasks = parsed.Value("ntasks") is { } n ? Number(n) ?? throw new SlurmUsageException($"{context.Program}: error: Invalid numeric value \"{n}\" for --ntasks.") : jobTasks;
        var cpusPerTask = parsed.Value("cpus-per-task") is { } c ? Number(c) ?? 1 : 1;
        if (tasks < 1 || (long)tasks * cpusPerTask > cpusOnNode)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unable to create step for job {jobId}: More processors requested than permitted");
        }

        var gpus = StepGpus(context, parsed, jobId, tasks);
        var step = NextStepId(jobId);
        var workDir = parsed.Value("chdir") is { } dir ? Path.GetFullPath(dir) : Environment.CurrentDirectory;
        var label = parsed.Has("label");
        var processes = new List<Process>();
        var pumps = new List<Task>();
        var lockObject = new object();
        for (var task = 0; task < tasks; task++)
        {
            var start = new ProcessStartInfo(parsed.Operands[0])
            {
                UseShellExecute = false,
                WorkingDirectory = workDir,
                RedirectStandardOutput = label,
                RedirectStandardError = label,
            };
            foreach (var a in parsed.Operands.Skip(1))
            {
                start.ArgumentList.Add(a);
            }

            var node = Environment.GetEnvironmentVariable("SLURM_JOB_NODELIST") ?? Environment.MachineName;
            var variables = new Dictionary<string, string>
            {
                ["SLURM_STEP_ID"] = step.ToString(CultureInfo.InvariantCulture),
                ["SLURM_STEPID"] = step.ToString(CultureInfo.InvariantCulture),
                ["SLURM_PROCID"] = task.ToString(CultureInfo.InvariantCulture),
                ["SLURM_LOCALID"] = task.ToString(CultureInfo.InvariantCulture),
                ["SLURM_NODEID"] = "0",
                ["SLURM_STEP_NUM_TASKS"] = tasks.ToString(CultureInfo.InvariantCulture),
                ["SLURM_STEP_NUM_NODES"] = "1",
                ["SLURM_STEP_NODELIST"] = node,
                ["SLURM_STEP_TASKS_PER_NODE"] = tasks.ToString(CultureInfo.InvariantCulture),
                ["SLURM_TASK_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            };
            if (gpus is not null)
            {
                // The step's share of the job's GPUs, as the job's own variables name them.
                foreach (var name in GpuVariables)
                {
                    variables[name] = gpus(task);
                }
            }

            foreach (var (key, value) in variables)
            {
                start.Environment[key] = value;
            }

            try
            {
                var process = Process.Start(start) ?? throw new InvalidOperationException();
                processes.Add(process);
                if (label)
                {
                    var prefix = $"{task}: ";
                    pumps.Add(Pump(process.StandardOutput, Console.Out, prefix, lockObject, ct));
                    pumps.Add(Pump(process.StandardError, Console.Error, prefix, lockObject, ct));
                }
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                context.Error.WriteLine($"slurmstepd: error: execve(): {parsed.Operands[0]}: No such file or directory");
                context.Fail($"{Environment.GetEnvironmentVariable("SLURM_JOB_NODELIST") ?? Environment.MachineName}: task {task}: Exited with exit code 2");
                foreach (var p in processes)
                {
                    p.Kill(entireProcessTree: true);
                }

                return 2;
            }
        }

        var code = 0;
        try
        {
            for (var task = 0; task < processes.Count; task++)
            {
                await processes[task].WaitForExitAsync(ct);
                var exit = processes[task].ExitCode;
                if (exit != 0)
                {
                    context.Fail($"{Environment.GetEnvironmentVariable("SLURM_JOB_NODELIST") ?? Environment.MachineName}: task {task}: Exited with exit code {exit}");
                }

                code = Math.Max(code, exit);
            }

            await Task.WhenAll(pumps);
        }
        catch (OperationCanceledException)
        {
            foreach (var p in processes.Where(p => !p.HasExited))
            {
                p.Kill(entireProcessTree: true);
            }

            throw;
        }
        finally
        {
            foreach (var p in processes)
            {
                p.Dispose();
            }
        }

        return code;
    }

    private static readonly string[] GpuVariables = ["CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "SLURM_STEP_GPUS", "CONDUCTOR_STEP_GPUS"];

    /// <summary>
    /// The GPUs each task of a step sees when it asked for some (--gpus, --gpus-per-node, --gpus-per-task,
    /// --gres=gpu:N), taken in order from the job's own (SLURM_JOB_GPUS): every task the step's GPUs, or with
    /// --gpus-per-task each task its own (Slurm's implied --gpu-bind=per_task). Null when it asked for none, so the
    /// step sees all of the job's.
    /// </summary>
    private static Func<int, string>? StepGpus(SlurmContext context, ParsedArguments parsed, string jobId, int tasks)
    {
        int? wanted = null;
        var perTask = 0;
        foreach (var name in (string[])["gpus", "gpus-per-node", "gpus-per-task", "gres"])
        {
            if (parsed.Value(name) is not { } text)
            {
                continue;
            }

            int count;
            if (name == "gres")
            {
                if (!Core.Scheduling.GresList.TryParse(text, out var gres, out _))
                {
                    throw new SlurmUsageException($"{context.Program}: error: Invalid generic resource (gres) specification");
                }

                count = gres.Gpus;
            }
            else
            {
                count = Number(text) ?? throw new SlurmUsageException($"{context.Program}: error: Invalid numeric value \"{text}\" for --{name}.");
                if (name == "gpus-per-task")
                {
                    perTask = count;
                    count *= tasks;
                }
            }

            wanted = count;
        }

        if (wanted is not { } n)
        {
            return null;
        }

        var own = (Environment.GetEnvironmentVariable("SLURM_JOB_GPUS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (n > own.Length)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unable to create step for job {jobId}: Invalid generic resource (gres) specification");
        }

        var step = own.Take(n).ToArray();
        return perTask > 0 && n == perTask * tasks
            ? task => string.Join(',', step.Skip(task * perTask).Take(perTask))
            : _ => string.Join(',', step);
    }

    private static async Task Pump(StreamReader from, TextWriter to, string prefix, object gate, CancellationToken ct)
    {
        while (await from.ReadLineAsync(ct) is { } line)
        {
            lock (gate)
            {
                to.WriteLine(prefix + line);
                to.Flush();
            }
        }
    }

    /// <summary>
    /// The job's next step number, counted under an exclusive lock in a file of the attempt's own directory (which
    /// goes with the job, and which the agent gives to the job's user); else in the temporary directory, named by the
    /// job's session leader (pid and start time).
    /// </summary>
    private static int NextStepId(string jobId)
    {
        var inJobDirectory = Environment.GetEnvironmentVariable("CONDUCTOR_JOB_DIR") is { Length: > 0 } dir && Directory.Exists(dir)
            ? Path.Combine(dir, "steps")
            : null;
        if (inJobDirectory is not null && CountStep(inJobDirectory) is { } step)
        {
            return step;
        }

        return CountStep(Path.Combine(Path.GetTempPath(), $"conductor-steps-{Environment.UserName}-{jobId}-{SessionKey()}")) ?? 0;
    }

    /// <summary>Reads and advances the counter in <paramref name="path"/>; null when this user may not.</summary>
    private static int? CountStep(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                var buffer = new byte[16];
                var read = file.Read(buffer);
                var current = int.TryParse(Encoding.ASCII.GetString(buffer, 0, read), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
                file.SetLength(0);
                file.Write(Encoding.ASCII.GetBytes((current + 1).ToString(CultureInfo.InvariantCulture)));
                return current;
            }
            catch (IOException) when (attempt < 200)
            {
                Thread.Sleep(5);
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    /// <summary>The pid and start time of this process's session leader, from /proc; "0" where they cannot be read.</summary>
    private static string SessionKey()
    {
        try
        {
            static string[] Fields(string stat) => stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var session = Fields(File.ReadAllText("/proc/self/stat"))[3];
            var started = Fields(File.ReadAllText($"/proc/{session}/stat"))[19];
            return $"{session}-{started}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return "0";
        }
    }

    /// <summary>Outside a job: submits the command as a job, streams its output here and returns its exit code.</summary>
    private static async Task<int> RunJobAsync(SlurmContext context, ParsedArguments parsed, CancellationToken ct)
    {
        foreach (var (option, _) in parsed.Given.Where(g => g.Option.Ignored))
        {
            context.Warn($"{option.Display} is ignored by Conductor");
        }

        var command = parsed.Operands;
        var script = new StringBuilder("#!/bin/sh\n# This script was created by srun.\nexec");
        foreach (var word in command)
        {
            script.Append(" '").Append(word.Replace("'", "'\\''", StringComparison.Ordinal)).Append('\'');
        }

        script.Append('\n');
        var words = parsed.Given.Where(g => JobOptions.Contains(g.Option))
            .Select(g => g.Value is null ? (g.Option.Long == "nice" ? "--nice=100" : $"--{g.Option.Long}") : $"--{g.Option.Long}={g.Value}")
            .ToList();
        var errors = new List<string>();
        var options = SbatchDirectives.ParseWords(new SbatchOptions(), words, "the command line", errors, []);
        if (errors.Count > 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: {errors[0]}");
        }

        var streamed = options.Output is null && options.Error is null;
        var token = Guid.NewGuid().ToString("N")[..8];
        if (streamed)
        {
            // Output goes to hidden files in the working directory (shared with the server, like any job's), read back here and removed.
            options = options with { Output = $".srun-{token}-%j.out", Error = $".srun-{token}-%j.err" };
        }

        var submitter = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
        var environment = SbatchExport.Resolve(options.Export, submitter, SubmitCommand.WithheldPrefixes);
        var spec = options.ToSpecInput(Path.GetFileName(command[0]), Environment.CurrentDirectory, environment, []);

        using var client = context.Connect(SubmitCommand.FieldNames);
        SubmitResponse answer;
        try
        {
            answer = await client.PostAsync<SubmitResponse>("/api/v1/jobs", new SubmitRequest(spec, script.ToString()), ct);
        }
        catch (CliException e) when (e.ExitCode == ExitCodes.Usage)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unable to allocate resources: {e.Message.TrimEnd('.')}");
        }

        if (parsed.Has("verbose"))
        {
            context.Error.WriteLine($"{context.Program}: job {answer.JobId} queued and waiting for resources");
        }

        try
        {
            JobView job;
            if (streamed)
            {
                long outOffset = 0;
                long errOffset = 0;
                bool outDone = false, errDone = false;
                var stdout = Console.OpenStandardOutput();
                var stderr = Console.OpenStandardError();
                var interval = TimeSpan.FromMilliseconds(50);
                while (!(outDone && errDone))
                {
                    var progressed = false;
                    if (!outDone)
                    {
                        (outOffset, outDone, var more) = await CopyAsync(client, answer.JobId, "stdout", outOffset, stdout, ct);
                        progressed |= more;
                    }

                    if (!errDone)
                    {
                        (errOffset, errDone, var more) = await CopyAsync(client, answer.JobId, "stderr", errOffset, stderr, ct);
                        progressed |= more;
                    }

                    if (!progressed && !(outDone && errDone))
                    {
                        await Task.Delay(interval, ct);
                        interval = TimeSpan.FromMilliseconds(Math.Min(500, interval.TotalMilliseconds * 1.5));
                    }
                    else
                    {
                        interval = TimeSpan.FromMilliseconds(50);
                    }
                }

                job = await client.GetAsync<JobView>($"/api/v1/jobs/{answer.JobId}", ct);
                TryDelete(job.Detail.StdoutPath);
                TryDelete(job.Detail.StderrPath);
            }
            else
            {
                job = await Sbatch.WaitAsync(client, answer.JobId, ct);
            }

            var code = WaitCommand.ExitCodeOf(job);
            if (code != 0)
            {
                context.Fail($"{(job.Detail.NodeList.Length > 0 ? job.Detail.NodeList : "none")}: task 0: {(job.State == "COMPLETED" || job.State == "FAILED" ? $"Exited with exit code {code}" : job.State)}");
            }

            return code;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl-C ends the job too, as srun's does.
            await client.PostAsync<CancelResponse>($"/api/v1/jobs/{answer.JobId}/cancel", null, CancellationToken.None);
            context.Error.WriteLine($"{context.Program}: Job step aborted: Waiting up to 32 seconds for job step to finish.");
            throw;
        }
    }

    private static async Task<(long Offset, bool Done, bool Progressed)> CopyAsync(ConductorClient client, string id, string stream, long offset, Stream to, CancellationToken ct)
    {
        var chunk = await client.GetAsync<OutputView>($"/api/v1/jobs/{id}/output?stream={stream}&offset={offset}&limit={1024 * 1024}", ct);
        if (chunk.Data.Length > 0)
        {
            await to.WriteAsync(Encoding.UTF8.GetBytes(chunk.Data), ct);
            await to.FlushAsync(ct);
        }

        return (chunk.NextOffset, chunk.Eof, chunk.NextOffset > offset);
    }

    private static void TryDelete(string? path)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The server's node may hold the file where this machine cannot reach it; it stays.
        }
    }

    private static int? Number(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
}
