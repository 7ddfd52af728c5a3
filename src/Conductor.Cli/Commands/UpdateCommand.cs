using System.CommandLine;
using Conductor.Server.Api;
using Conductor.Server.Jobs;

namespace Conductor.Cli.Commands;

/// <summary>
/// <c>conductor update ID</c>: scontrol update. A pending job's fields change as a submission with them would be
/// validated; a running job's time limit may be lowered by its owner and raised by the admin.
/// </summary>
public static class UpdateCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("job-id") { Description = "The job to change.", HelpName = "ID" };
        var time = new Option<string?>("--time", "-t") { Description = "The time limit (MM, HH:MM:SS, D-HH:MM, UNLIMITED); a running job's may only be lowered, unless you are the admin.", HelpName = "TIME" };
        var nice = new Option<int?>("--nice") { Description = "The nice value: higher runs later; negative needs the admin.", HelpName = "N" };
        var partition = new Option<string?>("--partition", "-p") { Description = "The partition.", HelpName = "PARTITION" };
        var cpus = new Option<int?>("--cpus-per-task", "-c") { Description = "CPUs per task.", HelpName = "N" };
        var mem = new Option<string?>("--mem") { Description = "Memory for the job on its node (16G, 512M, 1024 = MiB).", HelpName = "SIZE" };
        var gres = new Option<string?>("--gres") { Description = "Generic resources (gpu:2, gpu:a100:1).", HelpName = "LIST" };
        var dependency = new Option<string?>("--dependency", "-d") { Description = "Dependencies (afterok:ID...).", HelpName = "LIST" };
        var begin = new Option<string?>("--begin", "-b") { Description = "The earliest start (2026-01-31T18:00:00Z, now+1hour).", HelpName = "TIME" };
        var name = new Option<string?>("--name", "-J") { Description = "The job's name.", HelpName = "NAME" };
        var server = ClientCommand.ServerOption();
        var command = new Command("update", "Change a job, like scontrol update: any of these fields while it is pending, validated as at submit; a running job's time limit.")
        {
            id, time, nice, partition, cpus, mem, gres, dependency, begin, name, server,
        };
        command.SetClientAction(server, async (parse, client, ct) =>
        {
            var jobId = ClientCommand.JobIds([parse.GetValue(id)!])[0];
            var input = new JobUpdateInput
            {
                TimeLimit = parse.GetValue(time),
                Nice = parse.GetValue(nice),
                Partition = parse.GetValue(partition),
                CpusPerTask = parse.GetValue(cpus),
                MemoryPerNode = parse.GetValue(mem),
                Gres = parse.GetValue(gres),
                Dependency = parse.GetValue(dependency),
                Begin = parse.GetValue(begin),
                Name = parse.GetValue(name),
            };
            if (input.IsEmpty)
            {
                return ExitCodes.Fail(ExitCodes.Usage, "say what to change: --time, --nice, --partition, --cpus-per-task, --mem, --gres, --dependency, --begin or --name.");
            }

            await client.PostAsync<JobActionResponse>($"/api/v1/jobs/{Uri.EscapeDataString(jobId.ToString())}/update", input, ct);
            Console.WriteLine($"Updated job {jobId}");
            return ExitCodes.Ok;
        }, SubmitCommand.FieldNames);
        return command;
    }
}
