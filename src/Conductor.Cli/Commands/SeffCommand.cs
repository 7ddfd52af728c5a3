using System.CommandLine;
using System.Globalization;
using System.Text;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor seff ID</c>: a job's CPU and memory efficiency, printed as Slurm's seff prints it.</summary>
public static class SeffCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("job-id") { Description = "The job to report on.", HelpName = "ID" };
        var json = ClientCommand.JsonOption();
        var server = ClientCommand.ServerOption();
        var command = new Command("seff", "Show a job's CPU and memory efficiency, like seff: CPU time over elapsed × CPUs, peak memory over the memory requested.")
        {
            id, json, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var jobId = ClientCommand.JobIds([parse.GetValue(id)!])[0];
            var job = await client.GetAsync<JobView>($"/api/v1/jobs/{ClientCommand.Path(jobId)}", ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(Client.ConductorClient.Serialize(new { job_id = job.JobId, state = job.State, usage = job.Usage, efficiency = job.Efficiency }));
                return ExitCodes.Ok;
            }

            Console.Write(Format(job));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The report, line by line as seff writes it.</summary>
    public static string Format(JobView job)
    {
        var text = new StringBuilder();
        void Line(string s) => text.Append(s).Append('\n');
        var e = job.Efficiency;
        var exit = job.ExitCode is { } code ? code.Split(':')[0] : "0";
        Line($"Job ID: {job.JobId}");
        Line($"User/Group: {job.Detail.Account}/{job.Detail.Account}");
        Line($"State: {job.State} (exit code {exit})");
        if (job.State == "PENDING" || e is null)
        {
            Line($"Efficiency not available for jobs in the {job.State} state.");
            return text.ToString();
        }

        Line($"Cores: {e.Cpus}");
        Line($"CPU Utilized: {Time(job.Usage.CpuSeconds ?? 0)}");
        Line(e.CpuPercent is { } cpu
            ? $"CPU Efficiency: {Percent(cpu)} of {Time(e.CoreWalltimeSeconds)} core-walltime"
            : $"CPU Efficiency: not available (no CPU time recorded) of {Time(e.CoreWalltimeSeconds)} core-walltime");
        Line($"Job Wall-clock time: {Time(job.Time.ElapsedSeconds)}");
        Line($"Memory Utilized: {(job.Usage.MaxRssKib is { } rss ? Kib(rss) : "not available")}");
        Line(e.MemoryRequestedKib is { } requested
            ? $"Memory Efficiency: {(e.MemoryPercent is { } mem ? Percent(mem) : "not available")} of {Kib(requested)}"
            : "Memory Efficiency: not applicable (no memory requested)");
        if (job.State == "RUNNING")
        {
            Line("WARNING: Efficiency statistics may be misleading for RUNNING jobs.");
        }

        return text.ToString();
    }

    /// <summary>seff's time: <c>HH:MM:SS</c>, or <c>D-HH:MM:SS</c> past a day.</summary>
    public static string Time(double seconds)
    {
        var total = (long)Math.Max(0, seconds);
        var d = total / 86400;
        var rest = string.Create(CultureInfo.InvariantCulture, $"{total / 3600 % 24:00}:{total / 60 % 60:00}:{total % 60:00}");
        return d > 0 ? string.Create(CultureInfo.InvariantCulture, $"{d}-{rest}") : rest;
    }

    /// <summary>seff's size: two decimals in the largest unit that keeps the number at least 1 (KB, MB, GB, ...).</summary>
    public static string Kib(long kib)
    {
        if (kib <= 0)
        {
            return "0.00 MB";
        }

        var units = "KMGTPE";
        var exponent = Math.Min(units.Length - 1, (int)Math.Floor(Math.Log(kib) / Math.Log(1024)));
        return string.Create(CultureInfo.InvariantCulture, $"{kib / Math.Pow(1024, exponent):0.00} {units[exponent]}B");
    }

    private static string Percent(double value) => string.Create(CultureInfo.InvariantCulture, $"{value:0.00}%");
}
