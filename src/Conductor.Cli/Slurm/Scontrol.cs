using System.Globalization;
using System.Text;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>scontrol: shows jobs, nodes and partitions as <c>Key=Value</c> records.</summary>
public static class Scontrol
{
    private const string NotYet = "is not supported by this Conductor server yet";

    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        new("oneliner", 'o'), new("details", 'd'), new("quiet", 'Q'), new("help", 'h'), new("usage"), new("version", 'V'),
        new("all", 'a') { Ignored = true }, new("verbose", 'v') { Ignored = true }, new("local") { Ignored = true },
        new("federation") { Ignored = true }, new("hide") { Ignored = true },
        new("clusters", 'M', ValueKind.Required) { Refusal = "is not supported by Conductor: it runs one cluster" },
        new("json") { Refusal = NotYet }, new("yaml") { Refusal = "is not supported by Conductor" },
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: false);
        if (context.AnswersHelpOrVersion(parsed, "Usage: scontrol [-o] [-d] {show {job [ID] | node[s] [NAME] | partition[s] [NAME]} | hold ID | release ID | requeue ID | requeuehold ID | update JobId=ID ... | update NodeName=NAME State=DRAIN|RESUME [Reason=TEXT]}"))
        {
            return 0;
        }

        var words = parsed.Operands;
        if (words.Count == 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: no command given; Conductor's scontrol has no interactive mode");
        }

        var verb = words[0].ToLowerInvariant();
        var oneLine = parsed.Has("oneliner");
        var details = parsed.Values("details").Count();
        switch (verb)
        {
            case "show":
                if (words.Count < 2)
                {
                    throw new SlurmUsageException("too few arguments for keyword:show");
                }

                using (var client = context.Connect())
                {
                    return await ShowAsync(context, client, words[1].ToLowerInvariant(), words.Skip(2).ToList(), oneLine, details, ct);
                }

            case "version":
                context.Out.WriteLine(SlurmContext.Version);
                return 0;
            case "ping":
                using (var client = context.Connect())
                {
                    await client.GetAsync<System.Text.Json.Nodes.JsonNode>("/api/v1/whoami", ct);
                    context.Out.WriteLine($"Slurmctld(primary) at {client.Settings.Server.Host} is UP");
                    return 0;
                }

            case "hold" or "uhold" or "release":
                using (var client = context.Connect())
                {
                    return await HoldAsync(context, client, verb, words.Skip(1).ToList(), ct);
                }

            case "requeue" or "requeuehold":
                using (var client = context.Connect())
                {
                    return await ScontrolUpdate.RequeueAsync(context, client, words.Skip(1).ToList(), verb == "requeuehold", ct);
                }

            case "update":
                return await ScontrolUpdate.UpdateAsync(context, words.Skip(1).ToList(), ct);

            case "suspend" or "resume" or "top" or "notify":
                throw new SlurmUsageException($"{context.Program}: error: {verb} {NotYet}");
            default:
                throw new SlurmUsageException($"invalid keyword: {words[0]}");
        }
    }

    /// <summary>
    /// <c>scontrol hold|uhold|release ID[,ID...]</c> (also <c>jobid=ID</c>): silent on success, as Slurm's. <c>uhold</c>
    /// puts a user's hold even for the admin; <c>hold</c> by the admin of another user's job is the admin's hold.
    /// </summary>
    private static async Task<int> HoldAsync(SlurmContext context, ConductorClient client, string verb, List<string> words, CancellationToken ct)
    {
        var hold = verb != "release";
        var path = verb switch { "release" => "release", "uhold" => "hold?admin=false", _ => "hold" };
        var lists = words.Select(w => w.StartsWith("jobid=", StringComparison.OrdinalIgnoreCase) ? w[6..] : w).ToList();
        if (lists.Count == 0)
        {
            throw new SlurmUsageException($"too few arguments for keyword:{(hold ? "hold" : "release")}");
        }

        var code = 0;
        foreach (var id in context.JobIds(lists))
        {
            try
            {
                await client.PostAsync<HoldResponse>($"/api/v1/jobs/{SlurmContext.Path(id)}/{path}", null, ct);
            }
            catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
            {
                context.Error.WriteLine($"Invalid job id specified for job {id}");
                code = 1;
            }
            catch (CliException e) when (e.ExitCode == ExitCodes.Usage)
            {
                // Slurm's words: a job that is no longer pending, or an admin's hold a user may not release.
                context.Error.WriteLine(e.Message.Contains("no longer pending", StringComparison.Ordinal)
                    ? $"Job is no longer pending execution for job {id}"
                    : $"Access/permission denied for job {id}");
                code = 1;
            }
        }

        return code;
    }

    private static async Task<int> ShowAsync(SlurmContext context, ConductorClient client, string entity, List<string> rest, bool oneLine, int details, CancellationToken ct)
    {
        var name = rest.Count > 0 ? rest[0] : null;
        switch (entity)
        {
            case "job" or "jobs" or "jobid":
                {
                    if (name?.StartsWith("jobid=", StringComparison.OrdinalIgnoreCase) == true)
                    {
                        name = name[6..];
                    }

                    List<JobView> jobs;
                    if (name is null)
                    {
                        jobs = await QueueCommand.ListAllAsync(client, null, null, null, ct);
                        if (jobs.Count == 0)
                        {
                            context.Out.WriteLine("No jobs in the system");
                            return 0;
                        }
                    }
                    else
                    {
                        var id = context.JobIds([name]);
                        try
                        {
                            jobs = [await client.GetAsync<JobView>($"/api/v1/jobs/{SlurmContext.Path(id[0])}", ct)];
                            if (!id[0].IsTasks && jobs[0].ArrayTasks is { } counts && counts.Keys.Any(k => k != "PENDING"))
                            {
                                // An array's id shows the whole array, as Slurm's does: its unstarted tasks and every started one.
                                var all = await QueueCommand.ListAllAsync(client, null, null, null, ct);
                                jobs.AddRange(all.Where(j => j.ArrayJobId == jobs[0].ArrayJobId && j.JobId != jobs[0].JobId)
                                    .OrderByDescending(j => long.Parse(j.JobId, CultureInfo.InvariantCulture)));
                            }
                        }
                        catch (CliException e) when (e.ExitCode == ExitCodes.NotFound)
                        {
                            throw new SlurmUsageException("slurm_load_jobs error: Invalid job id specified");
                        }
                    }

                    foreach (var job in jobs)
                    {
                        Write(context.Out, JobRecord(job, details), oneLine);
                    }

                    return 0;
                }

            case "node" or "nodes":
                {
                    var nodes = await client.GetAsync<List<NodeView>>("/api/v1/nodes", ct);
                    if (name is not null)
                    {
                        nodes = nodes.Where(n => n.Name == name).ToList();
                        if (nodes.Count == 0)
                        {
                            throw new SlurmUsageException($"Node {name} not found");
                        }
                    }

                    // -d shows the generic resources in use, which the jobs running on each node hold.
                    var running = details > 0 && nodes.Any(n => n.Gres is not null)
                        ? await QueueCommand.ListAllAsync(client, [JobState.Running], null, null, ct)
                        : [];
                    foreach (var node in nodes)
                    {
                        Write(context.Out, NodeRecord(node, details > 0 ? running.Where(j => j.Detail.NodeList == node.Name).ToList() : null), oneLine);
                    }

                    return 0;
                }

            case "partition" or "partitions":
                {
                    var partitions = await client.GetAsync<List<PartitionView>>("/api/v1/partitions", ct);
                    var gpus = (await client.GetAsync<List<NodeView>>("/api/v1/nodes", ct)).ToDictionary(n => n.Name, n => n.Gpus, StringComparer.Ordinal);
                    if (name is not null)
                    {
                        partitions = partitions.Where(p => p.Name == name).ToList();
                        if (partitions.Count == 0)
                        {
                            throw new SlurmUsageException($"Partition {name} not found");
                        }
                    }

                    foreach (var partition in partitions)
                    {
                        Write(context.Out, PartitionRecord(partition, partition.Nodes.Sum(n => gpus.GetValueOrDefault(n))), oneLine);
                    }

                    return 0;
                }

            default:
                throw new SlurmUsageException($"{context.Program}: error: show {entity} {NotYet}; Conductor shows job, node and partition");
        }
    }

    /// <summary>Prints a record: each inner list on its own indented line, or all on one line with <c>-o</c>.</summary>
    private static void Write(TextWriter output, List<List<string>> lines, bool oneLine)
    {
        if (oneLine)
        {
            output.WriteLine(string.Join(' ', lines.SelectMany(l => l)) + " ");
            return;
        }

        for (var i = 0; i < lines.Count; i++)
        {
            output.WriteLine((i == 0 ? "" : "   ") + string.Join(' ', lines[i]));
        }

        output.WriteLine("   ");
        output.WriteLine();
    }

    private static List<List<string>> JobRecord(JobView job, int details)
    {
        var d = job.Detail;
        var t = job.Time;
        var state = SlurmFormat.State(job);
        var started = t.Start is not null;
        var user = SlurmFormat.User(job);
        var (uid, group, gid) = Users.Lookup(user);
        var held = state == JobState.Pending && d.Hold;
        var priority = d.Hold ? 0 : 4294901760L + d.Priority; // a held job's priority is 0, running or not
        var end = t.End ?? (state == JobState.Running && t.LimitSeconds is { } limit && t.Start is { } start ? start.AddSeconds(limit) : null);
        var memory = d.MemoryMib is > 0 ? SlurmFormat.Memory(d.MemoryMib) : "0";
        var lines = new List<List<string>>
        {
            new([$"JobId={job.JobId}", .. ArrayFields(job), $"JobName={d.Name}"]),
            new() { $"UserId={user}({uid})", $"GroupId={group}({gid})", "MCS_label=N/A" },
            new() { $"Priority={priority}", $"Nice={d.Nice}", $"Account={d.Account}", "QOS=(null)" },
            new() { $"JobState={job.State}", $"Reason={SlurmFormat.Reason(job).Replace(' ', '_')}", $"Dependency={d.Dependency ?? "(null)"}" },
            new() { $"Requeue={(d.Requeue ? 1 : 0)}", $"Restarts={Math.Max(0, job.Attempt - 1)}", "BatchFlag=1", "Reboot=0", $"ExitCode={job.ExitCode ?? "0:0"}" },
        };
        if (details > 0)
        {
            lines.Add([$"DerivedExitCode={job.ExitCode ?? "0:0"}"]);
        }

        lines.AddRange(
        [
            [$"RunTime={SlurmFormat.Long(TimeSpan.FromSeconds(t.ElapsedSeconds))}", $"TimeLimit={SlurmFormat.Limit(job, longForm: true)}", "TimeMin=N/A"],
            [$"SubmitTime={SlurmFormat.Date(t.Submit)}", $"EligibleTime={SlurmFormat.Date(held ? null : t.Eligible ?? d.Begin)}"],
            [$"AccrueTime={SlurmFormat.Date(held ? null : t.Eligible)}"],
            [$"StartTime={SlurmFormat.Date(t.Start ?? d.Begin)}", $"EndTime={SlurmFormat.Date(end)}", "Deadline=N/A"],
            ["SuspendTime=None", "SecsPreSuspend=0", $"LastSchedEval={SlurmFormat.Date(t.Start ?? t.Submit)}", "Scheduler=Main"],
            [$"Partition={d.Partition}", $"AllocNode:Sid={Environment.MachineName}:0"],
            ["ReqNodeList=(null)", "ExcNodeList=(null)"],
            [$"NodeList={(started ? d.NodeList : "")}"],
        ]);
        if (started && d.NodeList.Length > 0)
        {
            lines.Add([$"BatchHost={d.NodeList}"]);
        }

        var tres = SlurmFormat.Tres(job);
        lines.AddRange(
        [
            ["NumNodes=1", $"NumCPUs={d.Cpus}", $"NumTasks={d.Ntasks}", $"CPUs/Task={d.CpusPerTask}", "ReqB:S:C:T=0:0:*:*"],
            [$"TRES={tres}"],
            ["Socks/Node=*", "NtasksPerN:B:S:C=0:0:*:*", "CoreSpec=*"],
        ]);
        var gres = SlurmFormat.Gres(job);
        if (details > 0 && state == JobState.Running)
        {
            // The GPUs the job holds by index, as Slurm's gpu:2(IDX:0-1).
            var gpus = SlurmFormat.Ranges(SlurmFormat.Numbers(d.Gpus));
            lines.Add([$"JOB_GRES={(gres.IsEmpty ? "(null)" : gres.ToString())}"]);
            lines.Add([$"  Nodes={d.NodeList}", $"CPU_IDs={SlurmFormat.Ranges(SlurmFormat.Numbers(d.Cores))}", $"Mem={d.MemoryMib ?? 0}",
                "GRES=" + string.Join(',', gres.Items.Select(i => i.Name == GresDevice.Gpu && gpus.Length > 0 ? $"{i}(IDX:{gpus})" : i.ToString()))]);
        }

        // Conductor keeps a job's script, not the path it was read from.
        const string command = "(null)";
        lines.AddRange(
        [
            [$"MinCPUsNode={d.Cpus}", $"MinMemoryNode={memory}", "MinTmpDiskNode=0"],
            ["Features=(null)", "DelayBoot=00:00:00"],
            [$"OverSubscribe={(d.Exclusive ? "NO" : "OK")}", "Contiguous=0", "Licenses=(null)", "Network=(null)"],
            [$"Command={command}"],
            [$"WorkDir={d.WorkDir}"],
            [$"StdErr={SlurmFormat.StderrPath(job)}"],
            ["StdIn=/dev/null"],
            [$"StdOut={SlurmFormat.StdoutPath(job)}"],
            ["Power="],
        ]);
        // What the job asked, in the form it asked it: each line only when set, in Slurm's order.
        foreach (var (key, value) in new[] { ("TresPerJob", SlurmFormat.TresPerJob(job)), ("TresPerNode", SlurmFormat.TresPerNode(job)), ("TresPerTask", SlurmFormat.TresPerTask(job)) })
        {
            if (value != "N/A")
            {
                lines.Add([$"{key}={value}"]);
            }
        }

        return lines;
    }

    /// <summary>An array's job: <c>ArrayJobId=12 ArrayTaskId=3-6%2 ArrayTaskThrottle=2</c> (the throttle only when it has one).</summary>
    private static List<string> ArrayFields(JobView job)
    {
        if (job.ArrayJobId is not { } array)
        {
            return [];
        }

        var limit = job.Array is { } spec ? JobArraySpec.Parse(spec).MaxRunning : null;
        var tasks = job.ArrayTaskId?.ToString(CultureInfo.InvariantCulture)
            ?? (job.ArrayPendingTasks ?? "") + (limit is { } l ? "%" + l.ToString(CultureInfo.InvariantCulture) : "");
        return limit is { } n
            ? [$"ArrayJobId={array}", $"ArrayTaskId={tasks}", $"ArrayTaskThrottle={n.ToString(CultureInfo.InvariantCulture)}"]
            : [$"ArrayJobId={array}", $"ArrayTaskId={tasks}"];
    }

    /// <summary>A node's record; with <paramref name="running"/> (the jobs on it, for <c>-d</c>) also what of its GRES is in use.</summary>
    private static List<List<string>> NodeRecord(NodeView n, List<JobView>? running)
    {
        var gres = GresList.TryParse(n.Gres, out var g, out _) ? g : GresList.None;
        var state = n.State switch
        {
            "UP" when n.CpusAllocated == 0 => "IDLE",
            "UP" when n.CpusAllocated >= n.Cpus => "ALLOCATED",
            "UP" => "MIXED",
            "DRAINING" => (n.CpusAllocated >= n.Cpus ? "ALLOCATED" : "MIXED") + "+DRAIN",
            "DRAINED" => "IDLE+DRAIN",
            "DOWN" => "DOWN+NOT_RESPONDING",
            _ => n.State,
        };
        var lines = new List<List<string>>
        {
            new() { $"NodeName={n.Name}", $"Arch={System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant() switch { "x64" => "x86_64", "arm64" => "aarch64", var a => a }}", "CoresPerSocket=1 " },
            new() { $"CPUAlloc={n.CpusAllocated}", $"CPUEfctv={n.Cpus}", $"CPUTot={n.Cpus}", "CPULoad=N/A" },
            new() { "AvailableFeatures=(null)" },
            new() { "ActiveFeatures=(null)" },
            new() { $"Gres={(gres.IsEmpty ? "(null)" : gres.ToString())}" },
        };
        if (running is not null)
        {
            lines.Add(["GresDrain=N/A"]);
            lines.Add([$"GresUsed={(gres.IsEmpty ? "(null)" : GresUsed(gres, running))}"]);
        }

        lines.AddRange(new List<List<string>>
        {
            new() { $"NodeAddr={n.Name}", $"NodeHostName={n.Name}", "Version=22.05.8" },
            new() { $"RealMemory={n.MemoryMib}", $"AllocMem={n.MemoryAllocatedMib}", $"FreeMem={n.MemoryMib - n.MemoryAllocatedMib}", $"Sockets={n.Cpus}", "Boards=1" },
            new() { $"State={state}", "ThreadsPerCore=1", "TmpDisk=0", "Weight=1", "Owner=N/A", "MCS_label=N/A" },
            new() { $"Partitions={string.Join(',', n.Partitions)} " },
            new() { $"SlurmdStartTime={SlurmFormat.Date(n.Recovery?.Time ?? n.LastHeartbeat, "None")}", $"LastHeartbeat={SlurmFormat.Date(n.LastHeartbeat, "None")}" },
            new() { $"CfgTRES=cpu={n.Cpus},mem={n.MemoryMib}M,billing={n.Cpus}" + (n.Gpus > 0 ? $",gres/gpu={n.Gpus}" : "") },
            new() { "AllocTRES=" + string.Join(',', AllocTres(n)) },
        });
        if (n.Reason is { } reason)
        {
            lines.Add([$"Reason={reason}" + (n.ReasonUser is { } by ? $" [{by}@{SlurmFormat.Date(n.ReasonTime)}]" : "")]);
        }

        return lines;
    }

    private static IEnumerable<string> AllocTres(NodeView n)
    {
        if (n.CpusAllocated > 0)
        {
            yield return $"cpu={n.CpusAllocated}";
        }

        if (n.MemoryAllocatedMib > 0)
        {
            yield return $"mem={n.MemoryAllocatedMib}M";
        }

        if (n.GpusAllocated > 0)
        {
            yield return $"gres/gpu={n.GpusAllocated}";
        }
    }

    /// <summary>
    /// <c>GresUsed=</c>: per entry of the node's list, how many its running jobs hold; a typed entry also names the
    /// indices held (<c>gpu:a100:1(IDX:1)</c>, <c>gpu:a100:0(IDX:N/A)</c>), as Slurm prints them.
    /// </summary>
    private static string GresUsed(GresList node, List<JobView> running)
    {
        var devices = node.Devices();
        var held = running.SelectMany(j => SlurmFormat.Numbers(j.Detail.Gpus)).ToHashSet();
        var asked = running.Select(SlurmFormat.Gres).Aggregate(GresList.None, (all, g) => all.Plus(g));
        var used = new List<string>();
        foreach (var item in node.Items)
        {
            if (item.Name == GresDevice.Gpu)
            {
                var indices = devices.Where(d => d.Device.Name == item.Name && d.Type == item.Type && held.Contains(d.Device.Index)).Select(d => d.Device.Index).ToList();
                used.Add(item.Type is null
                    ? $"{item.Name}:{indices.Count}"
                    : $"{item.Name}:{item.Type}:{indices.Count}(IDX:{(indices.Count == 0 ? "N/A" : SlurmFormat.Ranges(indices))})");
            }
            else
            {
                used.Add(item.Type is null ? $"{item.Name}:{asked.Count(item.Name)}" : $"{item.Name}:{item.Type}:{asked.Items.Where(i => i.Name == item.Name && i.Type == item.Type).Sum(i => i.Count)}");
            }
        }

        return string.Join(',', used);
    }

    /// <summary>A partition's record; <paramref name="gpus"/> is how many GPUs its nodes have, which its TRES counts.</summary>
    private static List<List<string>> PartitionRecord(PartitionView p, int gpus)
    {
        string Time(double? seconds, string none) => seconds is { } s ? SlurmFormat.Long(TimeSpan.FromSeconds(s)) : none;
        var mem = p.TotalMemoryMib > 0 ? $",mem={p.TotalMemoryMib}M" : "";
        return
        [
            [$"PartitionName={p.Name}"],
            ["AllowGroups=ALL", "AllowAccounts=ALL", "AllowQos=ALL"],
            ["AllocNodes=ALL", $"Default={(p.Default ? "YES" : "NO")}", "QoS=N/A"],
            [$"DefaultTime={Time(p.DefaultTimeSeconds, "NONE")}", "DisableRootJobs=NO", "ExclusiveUser=NO", "GraceTime=0", "Hidden=NO"],
            ["MaxNodes=1", $"MaxTime={Time(p.MaxTimeSeconds, "UNLIMITED")}", "MinNodes=0", "LLN=NO", "MaxCPUsPerNode=UNLIMITED"],
            [$"Nodes={(p.Nodes.Count == 0 ? "(null)" : SlurmFormat.HostList(p.Nodes))}"],
            ["PriorityJobFactor=1", "PriorityTier=1", "RootOnly=NO", "ReqResv=NO", "OverSubscribe=NO"],
            ["OverTimeLimit=NONE", "PreemptMode=OFF"],
            ["State=UP", $"TotalCPUs={p.TotalCpus}", $"TotalNodes={p.Nodes.Count}", "SelectTypeParameters=NONE"],
            ["JobDefaults=(null)"],
            ["DefMemPerNode=UNLIMITED", "MaxMemPerNode=UNLIMITED"],
            [$"TRES=cpu={p.TotalCpus}{mem},node={p.Nodes.Count},billing={p.TotalCpus}" + (gpus > 0 ? $",gres/gpu={gpus}" : "")],
        ];
    }
}

/// <summary>Unix user and group ids by name, from the system's files, as Slurm prints <c>UserId=name(uid)</c>.</summary>
public static class Users
{
    /// <summary>The user's uid, primary group name and gid; Slurm's "unknown" id when the name is no local user.</summary>
    public static (string Uid, string Group, string Gid) Lookup(string user)
    {
        const string Unknown = "4294967294";
        try
        {
            var entry = File.ReadLines("/etc/passwd").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 3 && f[0] == user);
            if (entry is null)
            {
                return (Unknown, user, Unknown);
            }

            var group = File.ReadLines("/etc/group").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[2] == entry[3]);
            return (entry[2], group?[0] ?? entry[3], entry[3]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (Unknown, user, Unknown);
        }
    }
}
