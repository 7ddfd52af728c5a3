namespace Conductor.Core.Nodes;

public enum NodeState
{
    Up,
    Down,
    Drain,
}

/// <summary>What an agent tells the store about its node when it starts.</summary>
public sealed record NodeRegistration(NodeName Name, int Cpus, long MemoryMiB, IReadOnlyList<string> Partitions, string? Address = null);

/// <summary>A node with its capacity and what is allocated on it now.</summary>
public sealed record NodeRecord
{
    public required NodeName Name { get; init; }
    public required int Cpus { get; init; }
    public required long MemoryMiB { get; init; }
    public required IReadOnlyList<string> Partitions { get; init; }
    public required NodeState State { get; init; }
    public string? StateReason { get; init; }
    public DateTimeOffset? LastHeartbeat { get; init; }
    public int AllocatedCpus { get; init; }
    public long AllocatedMemoryMiB { get; init; }
    public int RunningJobs { get; init; }
}
