using System.CommandLine;
using System.Globalization;
using Conductor.Cli.Client;
using Conductor.Server.Api;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary><c>conductor show</c>: scontrol show job. Every field, then the timeline.</summary>
public static class ShowCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("job-id") { Description = "The job to show.", HelpName = "ID" };
        var json = ClientCommand.JsonOption();
        var server = ClientCommand.ServerOption();
        var command = new Command("show", "Show one job, like scontrol show job: state, times, resources, files, usage and its timeline of events.")
        {
            id, json, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var jobId = ClientCommand.JobIds([parse.GetValue(id)!])[0];
            var job = await client.GetAsync<JobView>($"/api/v1/jobs/{ClientCommand.Path(jobId)}", ct);
            var events = await client.GetAsync<List<JobEventView>>($"/api/v1/jobs/{ClientCommand.Path(jobId)}/events", ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(ConductorClient.Serialize(new { job, events }));
                return ExitCodes.Ok;
            }

            Print(ClientCommand.Console(), job, events);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(IAnsiConsole console, JobView job, IReadOnlyList<JobEventView> events)
    {
        var d = job.Detail;
        var t = job.Time;
        var grid = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        void Row(string name, string? value, Style? style = null) =>
            grid.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value ?? "", style ?? Style.Plain));
        string Num(long? n) => n?.ToString(CultureInfo.InvariantCulture) ?? "";

        Row("JobId", job.DisplayId);
        if (job.ArrayJobId is not null)
        {
            Row("JobIdRaw", job.JobId);
            Row("ArrayJobId", job.ArrayJobId);
            Row("ArrayTaskId", job.ArrayTaskId?.ToString(CultureInfo.InvariantCulture) ?? job.ArrayPendingTasks);
            Row("Array", job.Array);
            if (job.ArrayTasks is { } tasks)
            {
                Row("ArrayTasks", string.Join(' ', tasks.Select(kv => $"{kv.Key}={kv.Value.ToString(CultureInfo.InvariantCulture)}")));
            }
        }

        Row("JobName", d.Name);
        Row("Account", d.Account);
        Row("Partition", d.Partition);
        Row("JobState", job.State, Display.StateStyle(job.State));
        Row("Reason", job.Reason ?? "None");
        Row("ExitCode", job.ExitCode ?? "");
        if (job.ErrorMsg is not null)
        {
            Row("Error", job.ErrorMsg);
        }

        Row("Attempt", Num(job.Attempt));
        Row("Priority", Num(d.Priority));
        if (d.PriorityFactors is { } f)
        {
            // As sprio shows them: each factor in [0, 1], before its weight.
            Row("PriorityFactors", string.Create(CultureInfo.InvariantCulture,
                $"Age={f.Age:0.####} FairShare={f.FairShare:0.####} JobSize={f.JobSize:0.####} Partition={f.Partition:0.####} Nice={f.Nice}"));
        }

        Row("Nice", Num(d.Nice));
        Row("Hold", !d.Hold ? "no" : job.Reason == "JobHeldAdmin" ? "yes (admin)" : "yes");
        Row("Dependency", d.Dependency ?? "(null)");
        Row("SubmitTime", Display.Time(t.Submit));
        Row("EligibleTime", Display.Time(t.Eligible));
        Row("BeginTime", d.Begin is null ? "now" : Display.Time(d.Begin));
        Row("StartTime", t.Start is null && t.ExpectedStart is { } expected ? Display.Time(expected) + " (expected)" : Display.Time(t.Start));
        Row("EndTime", Display.Time(t.End));
        Row("RunTime", t.Elapsed);
        Row("TimeLimit", t.Limit);
        Row("NumTasks", Num(d.Ntasks));
        Row("CPUs/Task", Num(d.CpusPerTask));
        Row("NumCPUs", Num(d.Cpus));
        Row("Memory", d.Memory ?? "none reserved");
        Row("Gres", d.Gres ?? "(null)");
        if (d.Gpus is not null)
        {
            Row("GPUs", d.Gpus);
        }

        Row("NodeList", d.NodeList.Length == 0 ? "(none)" : d.NodeList);
        Row("Cores", d.Cores);
        Row("Exclusive", d.Exclusive ? "yes" : "no");
        Row("Requeue", d.Requeue ? "yes" : "no");
        Row("MaxRetries", Num(d.MaxRetries));
        Row("WorkDir", d.WorkDir);
        Row("StdOut", d.StdoutPath ?? d.StandardOutput);
        Row("StdErr", d.StderrPath ?? d.StandardError ?? d.StdoutPath ?? d.StandardOutput);
        Row("Arguments", string.Join(' ', d.Arguments));
        Row("Environment", $"{d.Environment.Count} variables");
        Row("TotalCPU", Display.CpuTime(job.Usage.CpuSeconds));
        Row("MaxRSS", Display.Kib(job.Usage.MaxRssKib));
        if (job.Efficiency is { } efficiency)
        {
            Row("CPUEfficiency", efficiency.CpuPercent is { } cpu
                ? string.Create(CultureInfo.InvariantCulture, $"{cpu:0.00}% of {SeffCommand.Time(efficiency.CoreWalltimeSeconds)} core-walltime")
                : "");
            Row("MemEfficiency", efficiency.MemoryPercent is { } mem && efficiency.MemoryRequestedKib is { } requested
                ? string.Create(CultureInfo.InvariantCulture, $"{mem:0.00}% of {SeffCommand.Kib(requested)}")
                : "");
        }

        console.Write(grid);

        console.WriteLine();
        console.Write(new Text("Timeline", new Style(decoration: Decoration.Bold)));
        console.WriteLine();
        var timeline = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        foreach (var e in events)
        {
            timeline.AddRow(
                new Text(e.Time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture)),
                new Text(e.Kind),
                new Text(e.Detail ?? ""));
        }

        console.Write(timeline);
    }
}
