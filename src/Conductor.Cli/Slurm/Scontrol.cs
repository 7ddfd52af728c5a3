using System.Globalization;
using System.Text;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
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
        if (context.AnswersHelpOrVersion(parsed, "Usage: scontrol [-o] [-d] {show {job [ID] | node[s] [NAME] | partition[s] [NAME]} | hold ID | release ID | requeue ID | update JobId=ID ... | update NodeName=NAME State=DRAIN|RESUME [Reason=TEXT]}"))
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

            case "requeue":
                using (var client = context.Connect())
                {
                    return await ScontrolUpdate.RequeueAsync(context, client, words.Skip(1).ToList(), ct);
                }

            case "update":
                return await ScontrolUpdate.UpdateAsync(context, words.Skip(1).ToList(), ct);

            case "requeuehold" or "suspend" or "resume" or "top" or "notify":
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

                    foreach (var node in nodes)
                    {
                        Write(context.Out, NodeRecord(node), oneLine);
                    }

                    return 0;
                }

            case "partition" or "partitions":
                {
                    var partitions = await client.GetAsync<List<PartitionView>>("/api/v1/partitions", ct);
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
                        Write(context.Out, PartitionRecord(partition), oneLine);
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
        var priority = held ? 0 : 4294901760L + d.Priority;
        var end = t.End ?? (state == JobState.Running && t.LimitSeconds is { } limit && t.Start is { } start ? start.AddSeconds(limit) : null);
        var memory = d.MemoryMib is > 0 ? SlurmFormat.Memory(d.MemoryMib) : "0";
        var lines = new List<List<string>>
        {
            new() { $"JobId={job.JobId}", $"JobName={d.Name}" },
            new() { $"UserId={user}({uid})", $"GroupId={group}({gid})", "MCS_label=N/A" },
            new() { $"Priority={priority}", $"Nice={d.Nice}", $"Account={d.Account}", "QOS=(null)" },
            new() { $"JobState={job.State}", $"Reason={SlurmFormat.Reason(job)}", $"Dependency={d.Dependency ?? "(null)"}" },
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

        var tres = $"cpu={d.Cpus}" + (d.MemoryMib is > 0 ? $",mem={d.MemoryMib}M" : "") + $",node=1,billing={d.Cpus}";
        lines.AddRange(
        [
            ["NumNodes=1", $"NumCPUs={d.Cpus}", $"NumTasks={d.Ntasks}", $"CPUs/Task={d.CpusPerTask}", "ReqB:S:C:T=0:0:*:*"],
            [$"TRES={tres}"],
            ["Socks/Node=*", "NtasksPerN:B:S:C=0:0:*:*", "CoreSpec=*"],
        ]);
        if (details > 0 && state == JobState.Running)
        {
            lines.Add(["JOB_GRES=(null)"]);
            lines.Add([$"  Nodes={d.NodeList}", $"CPU_IDs={CpuIds(d.Cores)}", $"Mem={d.MemoryMib ?? 0}", "GRES="]);
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
        return lines;
    }

    private static List<List<string>> NodeRecord(NodeView n)
    {
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
            new() { "Gres=(null)" },
            new() { $"NodeAddr={n.Name}", $"NodeHostName={n.Name}", "Version=22.05.8" },
            new() { $"RealMemory={n.MemoryMib}", $"AllocMem={n.MemoryAllocatedMib}", $"FreeMem={n.MemoryMib - n.MemoryAllocatedMib}", $"Sockets={n.Cpus}", "Boards=1" },
            new() { $"State={state}", "ThreadsPerCore=1", "TmpDisk=0", "Weight=1", "Owner=N/A", "MCS_label=N/A" },
            new() { $"Partitions={string.Join(',', n.Partitions)} " },
            new() { $"SlurmdStartTime={SlurmFormat.Date(n.Recovery?.Time ?? n.LastHeartbeat, "None")}", $"LastHeartbeat={SlurmFormat.Date(n.LastHeartbeat, "None")}" },
            new() { $"CfgTRES=cpu={n.Cpus},mem={n.MemoryMib}M,billing={n.Cpus}" },
            new() { "AllocTRES=" + (n.CpusAllocated > 0 ? $"cpu={n.CpusAllocated}" + (n.MemoryAllocatedMib > 0 ? $",mem={n.MemoryAllocatedMib}M" : "") : "") },
        };
        if (n.Reason is { } reason)
        {
            lines.Add([$"Reason={reason}" + (n.ReasonUser is { } by ? $" [{by}@{SlurmFormat.Date(n.ReasonTime)}]" : "")]);
        }

        return lines;
    }

    private static List<List<string>> PartitionRecord(PartitionView p)
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
            [$"TRES=cpu={p.TotalCpus}{mem},node={p.Nodes.Count},billing={p.TotalCpus}"],
        ];
    }

    /// <summary>Core numbers as Slurm's ranges: <c>0,1,2,5</c> → <c>0-2,5</c>.</summary>
    private static string CpuIds(string cores)
    {
        var numbers = cores.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, CultureInfo.InvariantCulture)).Order().ToList();
        var text = new StringBuilder();
        for (var i = 0; i < numbers.Count; i++)
        {
            var j = i;
            while (j + 1 < numbers.Count && numbers[j + 1] == numbers[j] + 1)
            {
                j++;
            }

            text.Append(text.Length > 0 ? "," : "").Append(numbers[i]);
            if (j > i)
            {
                text.Append('-').Append(numbers[j]);
            }

            i = j;
        }

        return text.ToString();
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
