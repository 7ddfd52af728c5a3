using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Server.Api;

public sealed record SubmitRequest(JobSpecInput? Job, string? Script);

public sealed record SubmitResponse(string JobId);

public sealed record JobTimesView(
    DateTimeOffset Submit,
    DateTimeOffset? Eligible,
    DateTimeOffset? Start,
    DateTimeOffset? End,
    double ElapsedSeconds,
    string Elapsed,
    string Limit,
    double? LimitSeconds,
    DateTimeOffset? ExpectedStart,
    double? WaitSeconds = null);

public sealed record JobDetailView(
    string Name,
    string Account,
    string User,
    string Partition,
    int CpusPerTask,
    int Ntasks,
    int Cpus,
    long? MemoryMib,
    string? Memory,
    int Nodes,
    string NodeList,
    string Cores,
    string WorkDir,
    string StandardOutput,
    string? StandardError,
    string? StdoutPath,
    string? StderrPath,
    bool Exclusive,
    bool Requeue,
    int MaxRetries,
    int Nice,
    long Priority,
    PriorityFactorsView? PriorityFactors,
    string? Gres,
    string? Gpus,
    bool Hold,
    DateTimeOffset? Begin,
    string? Dependency,
    IReadOnlyList<string> Arguments,
    IReadOnlyDictionary<string, string> Environment,
    int? GpusPerJob = null,
    int? GpusPerTask = null);

/// <summary>The parts of a pending job's priority (each factor in [0, 1] before its weight), as <c>sprio</c> shows them.</summary>
public sealed record PriorityFactorsView(double Age, double FairShare, double JobSize, double Partition, int Nice)
{
    public static PriorityFactorsView From(PriorityFactors f) =>
        new(Math.Round(f.Age, 6), Math.Round(f.FairShare, 6), Math.Round(f.JobSize, 6), Math.Round(f.Partition, 6), f.Nice);
}

public sealed record JobUsageView(double? CpuSeconds, long? MaxRssKib);

public sealed record JobLogView(string Stdout, string Stderr);

/// <summary>seff's figures: CPU efficiency = TotalCPU / (Elapsed × CPUs), memory efficiency = MaxRSS / requested memory.</summary>
public sealed record JobEfficiencyView(
    int Cpus,
    double CoreWalltimeSeconds,
    double? CpuPercent,
    long? MemoryRequestedKib,
    double? MemoryPercent)
{
    public static JobEfficiencyView From(JobEfficiency e) =>
        new(e.Cpus, Math.Round(e.CoreWalltime.TotalSeconds, 3), e.CpuPercent, e.MemoryRequestedKiB, e.MemoryPercent);
}

public sealed record JobView(
    string JobId,
    string State,
    string? Reason,
    string? ExitCode,
    string? ErrorMsg,
    int Attempt,
    JobTimesView Time,
    JobDetailView Detail,
    JobUsageView Usage,
    JobLogView? Log,
    JobEfficiencyView? Efficiency = null)
{
    /// <summary>The id people see: <c>A_k</c> for task k of array A, <c>A_[8-100%4]</c> for an array's unstarted tasks, else <see cref="JobId"/>.</summary>
    public string DisplayId { get; init; } = JobId;

    /// <summary>The array this job belongs to (its id), or null.</summary>
    public string? ArrayJobId { get; init; }

    /// <summary>The array task this row runs, or null (a job outside arrays, or an array's row that holds unstarted tasks).</summary>
    public int? ArrayTaskId { get; init; }

    /// <summary>On an array's row: its tasks not started yet, in range syntax (<c>8-100</c>).</summary>
    public string? ArrayPendingTasks { get; init; }

    /// <summary>The array as submitted (<c>1-100%4</c>).</summary>
    public string? Array { get; init; }

    /// <summary>On the array itself (<c>GET /jobs/A</c>): how many of its tasks are in each state.</summary>
    public IReadOnlyDictionary<string, long>? ArrayTasks { get; init; }

    public static JobView From(JobRecord job, DateTimeOffset now, JobLogView? log = null, PriorityFactors? factors = null, ArrayTaskCounts? tasks = null) =>
        Build(job, now, log, factors) with
        {
            DisplayId = job.DisplayId,
            ArrayJobId = job.ArrayJobId?.ToString(),
            ArrayTaskId = job.ArrayTaskId,
            ArrayPendingTasks = job.ArrayPendingTasks?.ToString(),
            Array = job.Spec.Array?.ToString(),
            ArrayTasks = tasks?.ByState.ToDictionary(kv => kv.Key.ToSlurmName(), kv => kv.Value),
        };

    private static JobView Build(JobRecord job, DateTimeOffset now, JobLogView? log, PriorityFactors? factors)
    {
        var spec = job.Spec;
        var elapsed = job.Elapsed(now);
        return new JobView(
            job.Id.ToString(),
            job.State.ToSlurmName(),
            job.Reason,
            job.ExitCode?.ToString(),
            job.ErrorMessage,
            job.Attempt,
            new JobTimesView(
                job.SubmitTime,
                job.EligibleTime,
                job.StartTime,
                job.EndTime,
                Math.Round(elapsed.TotalSeconds, 3),
                TimeLimitFormat.FormatDuration(elapsed),
                TimeLimitFormat.Format(spec.TimeLimit),
                spec.TimeLimit?.TotalSeconds,
                job.State == JobState.Pending ? job.ExpectedStart : null,
                job.StartTime is { } started ? Math.Round(Math.Max(0, (started - (job.EligibleTime ?? job.SubmitTime)).TotalSeconds), 3) : null),
            new JobDetailView(
                spec.Name,
                spec.Account,
                spec.Owner,
                spec.Partition,
                spec.CpusPerTask,
                spec.Ntasks,
                spec.TotalCpus,
                spec.MemoryMiB,
                spec.MemoryMiB is { } m ? MemorySize.Format(m) : null,
                1,
                job.Node?.Value ?? "",
                string.Join(',', job.Cores),
                spec.WorkDir,
                spec.StdoutPattern,
                spec.StderrPattern,
                job.StdoutPath,
                job.StderrPath,
                spec.Exclusive,
                spec.Requeue,
                spec.MaxRetries,
                spec.Nice,
                factors?.Priority ?? spec.Priority,
                factors is null ? null : PriorityFactorsView.From(factors),
                spec.Gres.IsEmpty ? null : spec.Gres.ToString(),
                job.Devices.Count == 0 ? null : GresDevice.Indices(job.Devices),
                spec.Hold,
                spec.Begin,
                job.DependencyText,
                spec.Arguments,
                spec.Environment,
                spec.GpusPerJob,
                spec.GpusPerTask),
            new JobUsageView(job.CpuSeconds, job.MaxRssKiB),
            log,
            JobEfficiencyView.From(JobEfficiency.Of(job, now)));
    }
}

public sealed record JobListView(IReadOnlyList<JobView> Jobs, string? NextAfter);

public sealed record JobEventView(long Seq, DateTimeOffset Time, string Kind, string? Detail)
{
    public static JobEventView From(JobEvent e) => new(e.Sequence, e.Time, e.Kind.ToWireName(), e.Detail);
}

/// <param name="Dependency">The new dependency in Slurm's syntax (<c>afterok:12,afterany:13</c>); null or empty removes it.</param>
public sealed record DependencyRequest(string? Dependency);

public sealed record CancelResponse(string JobId, string State, bool Changed);

/// <param name="Held">What was asked: true for hold, false for release.</param>
/// <param name="Changed">Whether the job's hold changed (false when it already was so).</param>
/// <param name="Pending">Whether the job has not ended: a pending or running job can be held or released.</param>
public sealed record HoldResponse(string JobId, bool Held, bool Changed, bool Pending);

public sealed record OutputView(string JobId, string Stream, long Offset, long NextOffset, long Size, bool Eof, string State, string Data);

public sealed record NodeView(
    string Name,
    string State,
    string? Reason,
    IReadOnlyList<string> Partitions,
    int Cpus,
    int CpusAllocated,
    int CpusIdle,
    long MemoryMib,
    long MemoryAllocatedMib,
    int RunningJobs,
    string? Gres,
    int Gpus,
    int GpusAllocated,
    DateTimeOffset? LastHeartbeat,
    RecoveryView? Recovery)
{
    /// <summary>How the node contains jobs: "cgroup v1", "cgroup v2", or "session only (no cgroups)" (then a job's setsid or double-forked processes can outlive it).</summary>
    public string? Containment { get; init; }

    /// <summary>Who drained the node, when it was drained or declared down (sinfo -R's USER and TIMESTAMP).</summary>
    public string? ReasonUser { get; init; }

    public DateTimeOffset? ReasonTime { get; init; }

    /// <summary>UP, DOWN, or for a drained node that is up DRAINING (jobs still run on it) or DRAINED (idle).</summary>
    public static string StateOf(NodeRecord n) => (n.State, n.Drained) switch
    {
        (NodeState.Up, true) => n.RunningJobs > 0 ? "DRAINING" : "DRAINED",
        _ => n.State.ToString().ToUpperInvariant(),
    };

    public static NodeView From(NodeRecord n) => new(
        n.Name.Value,
        StateOf(n),
        n.DrainReason ?? n.StateReason,
        n.Partitions,
        n.Cpus,
        n.AllocatedCpus,

        // A node that is down or drained offers nothing, whatever it still holds.
        n.State == NodeState.Up && !n.Drained ? Math.Max(0, n.Cpus - n.AllocatedCpus) : 0,
        n.MemoryMiB,
        n.AllocatedMemoryMiB,
        n.RunningJobs,
        n.Gres.IsEmpty ? null : n.Gres.ToString(),
        n.Gres.Gpus,
        n.AllocatedDevices.Count(d => d.Name == GresDevice.Gpu),
        n.LastHeartbeat,
        n.LastRecovery is { } r ? new RecoveryView(r.Time, r.Total, r.Recovered, r.Skipped, Math.Round(r.Duration.TotalMilliseconds, 1), r.Actions) : null)
    {
        Containment = n.LastRecovery?.Containment,
        ReasonUser = n.Drained ? n.DrainedBy : null,
        ReasonTime = n.Drained ? n.DrainTime : n.State == NodeState.Down ? n.LastHeartbeat : null,
    };
}

/// <summary>A partition: the nodes that name it, its time limits in seconds (null: unlimited), and whether jobs that name none go to it.</summary>
public sealed record PartitionView(
    string Name,
    bool Default,
    double? MaxTimeSeconds,
    double? DefaultTimeSeconds,
    IReadOnlyList<string> Nodes,
    int TotalCpus,
    long TotalMemoryMib);

/// <summary>What the node's agent found and did at its last start.</summary>
public sealed record RecoveryView(DateTimeOffset Time, int Total, int Recovered, int Skipped, double DurationMs, IReadOnlyList<string> Actions);

public sealed record DashboardCpuView(int Total, int Allocated, int Idle, double Utilization);

public sealed record DashboardMemoryView(long TotalMib, long AllocatedMib, double Utilization);

public sealed record DashboardView(
    IReadOnlyDictionary<string, long> Jobs,
    DashboardCpuView Cpus,
    DashboardMemoryView Memory,
    IReadOnlyList<NodeView> Nodes,
    IReadOnlyList<JobView> Running,
    IReadOnlyList<JobView> Pending)
{
    /// <summary>For each array among the running and pending jobs (by its id), how many of its tasks are in each state.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> Arrays { get; init; } = new Dictionary<string, IReadOnlyDictionary<string, long>>();
}

/// <param name="Scheduler">"leader" when this server runs the scheduler, "standby" when another server sharing the database does.</param>
public sealed record HealthView(string Status, string Version, DateTimeOffset Time, string Scheduler);

/// <summary>The account a token maps to, and whether it is the admin token.</summary>
/// <summary>The caller: their user, the account their jobs are charged to by default (the user's name), and whether they are the admin.</summary>
public sealed record WhoAmIView(string Account, bool Admin)
{
    public string User { get; init; } = Account;
}

/// <summary>What the server is and where to look next; the admin token's file is named only to loopback servers.</summary>
public sealed record ServiceView(string Service, string Version, string Status, string Api, string Openapi, string Dashboard, string Metrics, string? AdminTokenFile);

/// <summary>A single-use code that logs a browser in to the dashboard, and the page path that carries it.</summary>
/// <param name="Url">The whole link, for a caller on the local socket, who knows no web address of the server.</param>
public sealed record LoginCodeView(string Code, string LoginPath, DateTimeOffset Expires, string? Url = null);
