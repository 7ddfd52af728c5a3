using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Core.Jobs;
using Conductor.Server.Api;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor wait</c>: blocks until jobs end; exits with the job's exit code.</summary>
public static class WaitCommand
{
    private static readonly TimeSpan FirstInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(2);

    public static Command Create()
    {
        var ids = new Argument<string[]>("job-id") { Description = "The jobs to wait for.", Arity = ArgumentArity.OneOrMore, HelpName = "ID" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing; only the exit code tells." };
        var server = ClientCommand.ServerOption();
        var command = new Command("wait",
            "Wait until jobs end, with progress for several. Exit code: for one job its own (128+N when killed by signal N, 1 when it failed without one); for several, 0 only if all COMPLETED, else 1.")
        {
            ids, quiet, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var jobIds = ClientCommand.JobIds(parse.GetValue(ids)!).Distinct().ToList();
            var silent = parse.GetValue(quiet);
            var console = ClientCommand.Console();
            var done = new Dictionary<JobRef, JobView>();
            if (jobIds.Count > 1 && !silent && console.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                await console.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async progress =>
                    {
                        var task = progress.AddTask(Describe(done, jobIds.Count), maxValue: jobIds.Count);
                        await PollAsync(client, jobIds, done, _ =>
                        {
                            task.Value = done.Count;
                            task.Description = Describe(done, jobIds.Count);
                        }, ct);
                    });
            }
            else
            {
                await PollAsync(client, jobIds, done, job =>
                {
                    if (!silent && jobIds.Count > 1)
                    {
                        Console.WriteLine($"Job {Name(job)} {State(job)} {job.ExitCode} ({done.Count} of {jobIds.Count} done)");
                    }
                }, ct);
            }

            if (jobIds.Count == 1)
            {
                var job = done[jobIds[0]];
                if (!silent)
                {
                    Console.WriteLine($"Job {Name(job)} {State(job)} {job.ExitCode}");
                }

                return ExitCodeOf(job);
            }

            return done.Values.All(Completed) ? ExitCodes.Ok : 1;
        });
        return command;
    }

    /// <summary>The shell's convention: the job's exit code, 128+N for a signal, 1 for a failure that has neither.</summary>
    public static int ExitCodeOf(JobView job)
    {
        if (Completed(job))
        {
            return 0;
        }

        if (job.ArrayTasks is not null)
        {
            // An array: 0 only when every task COMPLETED.
            return 1;
        }

        if (ExitCode.TryParse(job.ExitCode, out var code))
        {
            if (code.Signal > 0)
            {
                return 128 + code.Signal;
            }

            if (code.Code > 0)
            {
                return code.Code;
            }
        }

        return 1;
    }

    /// <summary>The job's id, or the array's when the job stands for its array.</summary>
    private static string Name(JobView job) => job.ArrayTasks is not null ? job.ArrayJobId ?? job.JobId : job.DisplayId;

    /// <summary>The job's state, or for an array how many of its tasks ended in each state.</summary>
    private static string State(JobView job) =>
        job.ArrayTasks is { } tasks ? string.Join(' ', tasks.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key}={kv.Value}")) : job.State;

    /// <summary>A job COMPLETED, or an array whose every task did.</summary>
    private static bool Completed(JobView job) =>
        job.ArrayTasks is { } tasks ? tasks.Where(kv => kv.Value > 0).All(kv => kv.Key == "COMPLETED") : job.State == "COMPLETED";

    /// <summary>A job that ended, or an array none of whose tasks is pending or running.</summary>
    private static bool Ended(JobView job) =>
        job.ArrayTasks is { } tasks
            ? tasks.GetValueOrDefault("PENDING") + tasks.GetValueOrDefault("RUNNING") == 0
            : JobStates.TryParse(job.State, out var s) && s.IsTerminal();

    private static string Describe(Dictionary<JobRef, JobView> done, int total)
    {
        var failed = done.Values.Count(j => !Completed(j));
        return failed == 0 ? $"{done.Count} of {total} jobs done" : $"{done.Count} of {total} jobs done, {failed} not completed";
    }

    private static async Task PollAsync(ConductorClient client, List<JobRef> ids, Dictionary<JobRef, JobView> done, Action<JobView> onDone, CancellationToken ct)
    {
        var interval = FirstInterval;
        while (true)
        {
            foreach (var id in ids.Where(i => !done.ContainsKey(i)).ToList())
            {
                var job = await client.GetAsync<JobView>($"/api/v1/jobs/{ClientCommand.Path(id)}", ct);
                if (Ended(job))
                {
                    done[id] = job;
                    onDone(job);
                }
            }

            if (done.Count == ids.Count)
            {
                return;
            }

            await Task.Delay(interval, ct);
            interval = TimeSpan.FromTicks(Math.Min(MaxInterval.Ticks, interval.Ticks * 3 / 2));
        }
    }
}
