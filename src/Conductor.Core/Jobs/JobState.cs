namespace Conductor.Core.Jobs;

/// <summary>Slurm's job states, with Slurm's meanings.</summary>
public enum JobState
{
    Pending,
    Running,
    Completed,
    Failed,
    Timeout,
    OutOfMemory,
    Cancelled,
    NodeFail,
}

public static class JobStates
{
    private static readonly Dictionary<string, JobState> ByName = Enum.GetValues<JobState>()
        .ToDictionary(s => s.ToSlurmName(), StringComparer.OrdinalIgnoreCase);

    public static IReadOnlyList<JobState> All { get; } = Enum.GetValues<JobState>();

    public static bool IsTerminal(this JobState state) => state is not (JobState.Pending or JobState.Running);

    /// <summary>The upper-case name Slurm prints, e.g. OUT_OF_MEMORY.</summary>
    public static string ToSlurmName(this JobState state) => state switch
    {
        JobState.Pending => "PENDING",
        JobState.Running => "RUNNING",
        JobState.Completed => "COMPLETED",
        JobState.Failed => "FAILED",
        JobState.Timeout => "TIMEOUT",
        JobState.OutOfMemory => "OUT_OF_MEMORY",
        JobState.Cancelled => "CANCELLED",
        JobState.NodeFail => "NODE_FAIL",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    /// <summary>Slurm's two-letter compact code, as squeue's ST column shows it.</summary>
    public static string ToCompactCode(this JobState state) => state switch
    {
        JobState.Pending => "PD",
        JobState.Running => "R",
        JobState.Completed => "CD",
        JobState.Failed => "F",
        JobState.Timeout => "TO",
        JobState.OutOfMemory => "OOM",
        JobState.Cancelled => "CA",
        JobState.NodeFail => "NF",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static bool TryParse(string? text, out JobState state)
    {
        if (text is not null && ByName.TryGetValue(text.Trim(), out state))
        {
            return true;
        }

        state = default;
        return false;
    }

    /// <summary>
    /// The allowed transitions: PENDING → RUNNING → terminal, PENDING → CANCELLED, RUNNING → PENDING (requeue).
    /// Terminal states never change again by themselves or by a report; only an explicit requeue (scontrol requeue)
    /// puts an ended job back in the queue, as a new attempt.
    /// </summary>
    public static bool CanTransition(JobState from, JobState to) => (from, to) switch
    {
        (JobState.Pending, JobState.Running) => true,
        (JobState.Pending, JobState.Cancelled) => true,
        (JobState.Running, JobState.Pending) => true,
        (JobState.Running, JobState.Completed or JobState.Failed or JobState.Timeout or JobState.OutOfMemory
            or JobState.Cancelled or JobState.NodeFail) => true,
        _ => false,
    };
}
