using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Jobs;

/// <summary>A job as the store holds it: its spec, its state and what happened to it.</summary>
public sealed record JobRecord
{
    public required JobId Id { get; init; }
    public required JobSpec Spec { get; init; }
    public required JobState State { get; init; }

    /// <summary>Why a pending job waits (Resources, Priority, BeginTime, JobHeldUser, ...), as Slurm's REASON.</summary>
    public string? Reason { get; init; }

    public required DateTimeOffset SubmitTime { get; init; }
    public DateTimeOffset? EligibleTime { get; init; }
    public DateTimeOffset? StartTime { get; init; }
    public DateTimeOffset? EndTime { get; init; }

    /// <summary>How many times the job has been dispatched; a report from an older attempt is ignored.</summary>
    public int Attempt { get; init; }

    public NodeName? Node { get; init; }

    /// <summary>The CPU cores of the node the job is pinned to.</summary>
    public IReadOnlyList<int> Cores { get; init; } = [];

    /// <summary>The devices of the node the job holds (GPUs), by index.</summary>
    public IReadOnlyList<GresDevice> Devices { get; init; } = [];

    /// <summary>When a pending job is expected to start: its backfill reservation, if it has one.</summary>
    public DateTimeOffset? ExpectedStart { get; init; }

    /// <summary>The state of each term of <see cref="JobSpec.Dependency"/>, in order; null when the job shows no dependency.</summary>
    public IReadOnlyList<DependencyState>? DependencyStates { get; init; }

    /// <summary>Slurm's display of the dependency: <c>afterok:12(unfulfilled)</c>; null when there is none (Slurm's <c>(null)</c>).</summary>
    public string? DependencyText => Spec.Dependency is { } d ? Dependencies.Describe(d, DependencyStates ?? []) : null;

    public ExitCode? ExitCode { get; init; }
    public string? ErrorMessage { get; init; }

    /// <summary>The resolved output paths, known once the job has been placed on a node.</summary>
    public string? StdoutPath { get; init; }
    public string? StderrPath { get; init; }

    public int? ProcessId { get; init; }

    /// <summary>The array this row belongs to (its own id on the array's row); null for a job outside arrays.</summary>
    public JobId? ArrayJobId { get; init; }

    /// <summary>The task this row runs; null on an array's row while it still holds unstarted tasks.</summary>
    public int? ArrayTaskId { get; init; }

    /// <summary>On an array's row: the tasks not yet split off into rows of their own (all pending, as this row).</summary>
    public TaskSet? ArrayPendingTasks { get; init; }

    /// <summary>
    /// The id people see: <c>A_k</c> for task k of array A, <c>A_[8-100%4]</c> for an array's unstarted tasks, else the
    /// job id.
    /// </summary>
    public string DisplayId => JobArrayIds.Display(Id, ArrayJobId, ArrayTaskId, ArrayPendingTasks, Spec.Array?.MaxRunning);

    /// <summary>The start time of <see cref="ProcessId"/> (clock ticks since boot): a pid is never trusted alone.</summary>
    public long? ProcessStartTicks { get; init; }
    public double? CpuSeconds { get; init; }
    public long? MaxRssKiB { get; init; }

    public TimeSpan Elapsed(DateTimeOffset now) =>
        StartTime is { } start ? (EndTime ?? now) - start : TimeSpan.Zero;
}

/// <summary>One line of a job's timeline.</summary>
public sealed record JobEvent(long Sequence, JobId JobId, DateTimeOffset Time, JobEventKind Kind, string? Detail);

public enum JobEventKind
{
    Submitted,
    Scheduled,
    Stage,
    Launched,
    Signal,
    CancelRequested,
    Requeued,
    Retry,
    Warning,
    Finished,
    Recovered,
    Held,
    Released,
    Updated,
    DependencyChanged,
}

public static class JobEventKinds
{
    public static string ToWireName(this JobEventKind kind) => kind switch
    {
        JobEventKind.Submitted => "submitted",
        JobEventKind.Scheduled => "scheduled",
        JobEventKind.Stage => "stage",
        JobEventKind.Launched => "launched",
        JobEventKind.Signal => "signal",
        JobEventKind.CancelRequested => "cancel_requested",
        JobEventKind.Requeued => "requeued",
        JobEventKind.Retry => "retry",
        JobEventKind.Warning => "warning",
        JobEventKind.Finished => "finished",
        JobEventKind.Recovered => "recovered",
        JobEventKind.Held => "held",
        JobEventKind.Released => "released",
        JobEventKind.Updated => "updated",
        JobEventKind.DependencyChanged => "dependency",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static JobEventKind FromWireName(string name) =>
        Enum.GetValues<JobEventKind>().First(k => k.ToWireName() == name);
}

/// <summary>Reasons a pending job waits, as Slurm names them.</summary>
public static class PendingReasons
{
    public const string None = "None";
    public const string Resources = "Resources";
    public const string Priority = "Priority";
    public const string BeginTime = "BeginTime";
    public const string JobHeldUser = "JobHeldUser";
    public const string JobHeldAdmin = "JobHeldAdmin";

    /// <summary>
    /// A user's hold put by <c>scontrol requeuehold</c>: Slurm's reason JobHeldUser, which it shows by the words of
    /// its description.
    /// </summary>
    public const string RequeuedHeld = "job requeued in held state";
    public const string Dependency = "Dependency";
    public const string DependencyNeverSatisfied = "DependencyNeverSatisfied";
    public const string PartitionDown = "PartitionNodeLimit";
    public const string NodeDown = "NodeDown";

    /// <summary>Every node the job could use is drained: Slurm's <c>ReqNodeNotAvail, UnavailableNodes:n1,n2</c>.</summary>
    public static string NodesNotAvailable(IEnumerable<string> nodes) => "ReqNodeNotAvail, UnavailableNodes:" + string.Join(',', nodes);
}
