using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Conductor.Server.Auth;
using Conductor.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Jobs;

/// <summary>What became of an update: the outcome, or the fields that were wrong, or why the job could not change.</summary>
public sealed record UpdateResult(UpdateOutcome? Outcome, ValidationErrors Errors, string? Conflict = null);

/// <summary>
/// What owners and operators do to a job after its submission — update it (scontrol update), signal it
/// (scancel --signal), requeue it (scontrol requeue) — and to a node (drain, resume), with Slurm's rules on who may.
/// </summary>
public sealed class JobControlService(
    JobService jobs,
    IJobStore store,
    INodeStore nodes,
    IWakeBus bus,
    TimeProvider time,
    IOptions<ServerOptions> options,
    ILogger<JobControlService> logger)
{
    private readonly ServerOptions _options = options.Value;

    /// <summary>Null when the job does not exist or is not the caller's.</summary>
    public async Task<UpdateResult?> UpdateAsync(Caller caller, JobId id, JobUpdateInput input, CancellationToken ct)
    {
        var job = await jobs.GetAsync(caller, id, ct);
        if (job is null)
        {
            return null;
        }

        var errors = new ValidationErrors();
        if (input.IsEmpty)
        {
            errors.Add("job", "names no field to change; give time_limit, nice, partition, cpus_per_task, memory_per_node, gres, begin or name");
            return new UpdateResult(null, errors);
        }

        if (job.State.IsTerminal())
        {
            return new UpdateResult(null, errors, $"Job {id} has ended ({job.State.ToSlurmName()}); only a pending or running job can be updated.");
        }

        var changes = job.State == JobState.Running
            ? RunningChanges(caller, job, input, errors)
            : await PendingChangesAsync(caller, job, input, errors, ct);
        if (changes is null)
        {
            return new UpdateResult(null, errors);
        }

        var detail = $"{Describe(job, changes)} by {caller.User}";
        var outcome = await store.UpdateAsync(id, changes, time.GetUtcNow(), detail, ct);
        if (outcome == UpdateOutcome.Cycle)
        {
            errors.Add("dependency", $"would make job {id} wait for itself through the jobs it names (a cycle)");
            return new UpdateResult(null, errors);
        }

        if (outcome == UpdateOutcome.StateChanged)
        {
            return new UpdateResult(null, errors, $"Job {id} changed state while it was being updated; read it again and retry.");
        }

        if (outcome == UpdateOutcome.Updated)
        {
            logger.LogInformation("Job {JobId} updated: {Detail}", id, detail);
            bus.Publish(WakeTopic.Scheduler);
            if (job.State == JobState.Running && job.Node is { } node)
            {
                bus.Publish(WakeTopic.Node(node));
            }
        }

        return new UpdateResult(outcome, errors);
    }

    /// <summary>A running job may change only its time limit: lowered by its owner, raised only by the admin.</summary>
    private static JobChanges? RunningChanges(Caller caller, JobRecord job, JobUpdateInput input, ValidationErrors errors)
    {
        var others = new (string Field, bool Given)[]
        {
            ("name", input.Name is not null), ("nice", input.Nice is not null), ("partition", input.Partition is not null),
            ("cpus_per_task", input.CpusPerTask is not null), ("memory_per_node", input.MemoryPerNode is not null),
            ("gres", input.Gres is not null), ("begin", input.Begin is not null), ("dependency", input.Dependency is not null),
        };
        foreach (var (field, _) in others.Where(o => o.Given))
        {
            errors.Add(field, $"can change only while the job is pending; job {job.Id} is RUNNING");
        }

        if (input.TimeLimit is null || !errors.IsEmpty)
        {
            return null;
        }

        if (!TimeLimitFormat.TryParse(input.TimeLimit, out var limit, out var error))
        {
            errors.Add("time_limit", error);
            return null;
        }

        var raised = limit is null ? job.Spec.TimeLimit is not null : job.Spec.TimeLimit is { } current && limit > current;
        if (raised && !caller.IsAdmin)
        {
            errors.Add("time_limit", $"may only be lowered while the job runs (it is {TimeLimitFormat.Format(job.Spec.TimeLimit)}); raising it needs the admin");
            return null;
        }

        return new JobChanges(JobState.Running, job.Attempt) { TimeLimit = new Change<TimeSpan?>(limit) };
    }

    /// <summary>A pending job's changes, validated exactly as a submission with them would be.</summary>
    private async Task<JobChanges?> PendingChangesAsync(Caller caller, JobRecord job, JobUpdateInput input, ValidationErrors errors, CancellationToken ct)
    {
        var spec = job.Spec;
        var partitionName = input.Partition ?? spec.Partition;
        var limits = _options.Partitions.FirstOrDefault(p => p.Name == partitionName);
        var asSubmitted = new JobSpecInput
        {
            Name = input.Name ?? spec.Name,
            Account = spec.Account,
            Partition = partitionName,
            CpusPerTask = input.CpusPerTask ?? spec.CpusPerTask,
            Ntasks = spec.Ntasks,
            NtasksPerNode = spec.NtasksPerNode,
            MemoryPerNode = input.MemoryPerNode ?? (spec.MemoryMiB is { } mib ? mib.ToString(CultureInfo.InvariantCulture) + "M" : null),
            TimeLimit = input.TimeLimit ?? TimeLimitFormat.Format(spec.TimeLimit),
            CurrentWorkingDirectory = spec.WorkDir,
            StandardOutput = spec.StdoutPattern,
            StandardError = spec.StderrPattern,
            Environment = spec.Environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value),
            Exclusive = spec.Exclusive,
            Requeue = spec.Requeue,
            MaxRetries = spec.MaxRetries,
            Nice = input.Nice ?? spec.Nice,
            Gres = input.Gres ?? (spec.Gres.IsEmpty ? null : spec.Gres.ToString()),
            Hold = spec.Hold,
            Begin = input.Begin ?? spec.Begin?.ToString("O", CultureInfo.InvariantCulture),
            Dependency = input.Dependency,
            Arguments = spec.Arguments,
        };
        var defaults = new SubmitDefaults
        {
            Account = spec.Account,

            // A nice the admin gave stays; only a new negative one needs the admin.
            MayRaisePriority = caller.IsAdmin || input.Nice is null,
            Partition = partitionName,
            TimeLimit = limits?.DefaultTime ?? _options.DefaultTimeLimitValue,
            MaxTimeLimit = limits?.MaxTime ?? _options.MaxTimeLimitValue,
            Now = time.GetUtcNow(),
        };

        // The script is not changed; the builder is given a placeholder for it.
        var updated = JobSpecBuilder.Build(asSubmitted, "#!/bin/sh\n", defaults, errors);
        if (updated is null)
        {
            return null;
        }

        if (updated.Dependency is { } dependency)
        {
            if (dependency.Targets.Contains(job.Id))
            {
                errors.Add("dependency", $"names job {job.Id} itself");
                return null;
            }

            if (!await jobs.CheckDependencyAsync(caller, dependency, errors, ct))
            {
                return null;
            }
        }

        if (input.Partition is not null && limits is not null && !limits.Allows(spec.Account))
        {
            errors.Add("partition", $"'{limits.Name}' does not allow account '{spec.Account}'; it allows {string.Join(", ", limits.AllowAccounts!)}");
            return null;
        }

        if (FitCheck.WhyNever(limits?.Exclusive == true ? updated with { Exclusive = true } : updated, await jobs.NodesAsync(refresh: true, ct)) is { } why)
        {
            errors.Add(why.Field, why.Message);
            return null;
        }

        return new JobChanges(JobState.Pending, job.Attempt)
        {
            Name = input.Name is null ? null : updated.Name,
            Partition = input.Partition is null ? null : updated.Partition,
            CpusPerTask = input.CpusPerTask is null ? null : updated.CpusPerTask,
            MemoryMiB = input.MemoryPerNode is null ? null : updated.MemoryMiB,
            Gres = input.Gres is null ? null : updated.Gres,
            TimeLimit = input.TimeLimit is null ? null : new Change<TimeSpan?>(updated.TimeLimit),
            Nice = input.Nice is null ? null : updated.Nice,
            Begin = input.Begin is null ? null : new Change<DateTimeOffset?>(updated.Begin),
            Dependency = input.Dependency is null ? null : new Change<Dependency?>(updated.Dependency),
        };
    }

    /// <summary>"time_limit 10:00 → 1:00, nice 0 → 5": the event's words for what changed.</summary>
    private static string Describe(JobRecord job, JobChanges c)
    {
        var s = job.Spec;
        var parts = new List<string>();
        void Add(string field, object? from, object? to) => parts.Add($"{field} {from ?? "none"} → {to ?? "none"}");
        if (c.Name is not null)
        {
            Add("name", s.Name, c.Name);
        }

        if (c.TimeLimit is { } t)
        {
            Add("time_limit", TimeLimitFormat.Format(s.TimeLimit), TimeLimitFormat.Format(t.Value));
        }

        if (c.Nice is not null)
        {
            Add("nice", s.Nice, c.Nice);
        }

        if (c.Partition is not null)
        {
            Add("partition", s.Partition, c.Partition);
        }

        if (c.CpusPerTask is not null)
        {
            Add("cpus_per_task", s.CpusPerTask, c.CpusPerTask);
        }

        if (c.MemoryMiB is { } m)
        {
            Add("memory_per_node", s.MemoryMiB is { } old ? MemorySize.Format(old) : null, MemorySize.Format(m));
        }

        if (c.Gres is { } g)
        {
            Add("gres", s.Gres.IsEmpty ? null : s.Gres.ToString(), g.IsEmpty ? null : g.ToString());
        }

        if (c.Begin is { } b)
        {
            Add("begin", s.Begin?.ToString("O", CultureInfo.InvariantCulture), b.Value?.ToString("O", CultureInfo.InvariantCulture));
        }

        if (c.Dependency is { } d)
        {
            Add("dependency", s.Dependency?.ToString(), d.Value?.ToString());
        }

        return "updated " + string.Join(", ", parts);
    }

    /// <summary>Asks for a signal to a running job; null when the job does not exist or is not the caller's.</summary>
    public async Task<SignalResult?> SignalAsync(Caller caller, JobId id, int signal, bool batchOnly, CancellationToken ct)
    {
        if (await jobs.GetAsync(caller, id, ct) is null)
        {
            return null;
        }

        var result = await store.SignalAsync(id, new SignalRequest(signal, batchOnly, caller.User, time.GetUtcNow()), ct);
        if (result.Outcome == SignalOutcome.Queued && result.Node is { } node)
        {
            logger.LogInformation("Job {JobId}: signal {Signal} asked by {User}", id, signal, caller.User);
            bus.Publish(WakeTopic.Node(node));
        }

        return result.Outcome == SignalOutcome.NotFound ? null : result;
    }

    /// <summary>
    /// Requeues a job (scontrol requeue; with <paramref name="hold"/> scontrol requeuehold, which leaves it held until
    /// released); null when the job does not exist or is not the caller's.
    /// </summary>
    public async Task<RequeueResult?> RequeueAsync(Caller caller, JobId id, bool hold, CancellationToken ct)
    {
        if (await jobs.GetAsync(caller, id, ct) is null)
        {
            return null;
        }

        var result = await store.RequeueAsync(id, time.GetUtcNow(), $"requeued{(hold ? " held" : "")} by {caller.User}", hold, ct);
        if (result.Outcome is RequeueOutcome.Requeued or RequeueOutcome.Requested)
        {
            logger.LogInformation("Job {JobId} requeued by {User}", id, caller.User);
            bus.Publish(WakeTopic.Scheduler);
            if (result.Node is { } node)
            {
                bus.Publish(WakeTopic.Node(node));
            }
        }

        return result.Outcome == RequeueOutcome.NotFound ? null : result;
    }

    /// <summary>Drains (a reason given) or resumes a node; false when no such node is registered. The caller must be the admin.</summary>
    public async Task<bool> SetDrainAsync(Caller caller, NodeName node, string? reason, CancellationToken ct)
    {
        var drain = reason is null ? null : new NodeDrain(reason, caller.User, time.GetUtcNow());
        if (!await nodes.SetDrainAsync(node, drain, ct))
        {
            return false;
        }

        if (reason is null)
        {
            logger.LogInformation("Node {Node} resumed by {User}", node, caller.User);
        }
        else
        {
            logger.LogInformation("Node {Node} drained by {User}: {Reason}", node, caller.User, reason);
        }

        bus.Publish(WakeTopic.Scheduler);
        return true;
    }
}
