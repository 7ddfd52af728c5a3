using System.ComponentModel.DataAnnotations;
using Conductor.Core.Scheduling;

namespace Conductor.Server.Scheduling;

public sealed class SchedulerOptions
{
    public const string SectionName = "Conductor:Scheduler";

    /// <summary>A pass runs on every submit, finish, cancel and node change; this timer is only a safety net.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SafetyInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest wait after a failed pass; failures back off up to this.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many blocked jobs of each partition get a backfill reservation.</summary>
    [Range(1, 10_000)]
    public int BackfillDepth { get; set; } = PolicyOptions.Default.BackfillDepth;

    [Range(0, 1e9)]
    public double PriorityWeightAge { get; set; } = PolicyOptions.Default.AgeWeight;

    [Range(0, 1e9)]
    public double PriorityWeightFairShare { get; set; } = PolicyOptions.Default.FairShareWeight;

    [Range(0, 1e9)]
    public double PriorityWeightJobSize { get; set; } = PolicyOptions.Default.JobSizeWeight;

    [Range(0, 1e9)]
    public double PriorityWeightPartition { get; set; } = PolicyOptions.Default.PartitionWeight;

    /// <summary>The age at which a job's age factor reaches 1.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan PriorityMaxAge { get; set; } = PolicyOptions.Default.MaxAge;

    /// <summary>How fast past usage is forgotten in fair-share: it halves every this long.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan UsageHalfLife { get; set; } = TimeSpan.FromDays(7);

    /// <summary>What one GPU-second counts for in an account's usage, in CPU-seconds.</summary>
    [Range(0, 1e6)]
    public double GpuUsageWeight { get; set; } = PolicyOptions.Default.GpuUsageWeight;

    /// <summary>Cancel a job whose dependency can never be satisfied, instead of leaving it pending (Slurm's kill_invalid_depend).</summary>
    public bool KillOnInvalidDependency { get; set; }

    public PolicyOptions ToPolicyOptions() => new()
    {
        BackfillDepth = BackfillDepth,
        AgeWeight = PriorityWeightAge,
        FairShareWeight = PriorityWeightFairShare,
        JobSizeWeight = PriorityWeightJobSize,
        PartitionWeight = PriorityWeightPartition,
        MaxAge = PriorityMaxAge,
        GpuUsageWeight = GpuUsageWeight,
    };
}
