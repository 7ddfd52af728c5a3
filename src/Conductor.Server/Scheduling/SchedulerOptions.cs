using System.ComponentModel.DataAnnotations;

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
}
