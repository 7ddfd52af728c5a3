using Conductor.Core.Scheduling;

namespace Conductor.Core.Nodes;

public enum NodeState
{
    Up,
    Down,
}

/// <summary>What an agent tells the store about its node when it starts.</summary>
public sealed record NodeRegistration(NodeName Name, int Cpus, long MemoryMiB, IReadOnlyList<string> Partitions, string? Address = null, GresList? Gres = null)
{
    public GresList GresTotal => Gres ?? GresList.None;
}

/// <summary>A node with its capacity and what is allocated on it now.</summary>
public sealed record NodeRecord
{
    public required NodeName Name { get; init; }
    public required int Cpus { get; init; }
    public required long MemoryMiB { get; init; }
    public required IReadOnlyList<string> Partitions { get; init; }
    public required NodeState State { get; init; }
    public string? StateReason { get; init; }

    /// <summary>Set while an operator has drained the node: it finishes what it runs and gets nothing new.</summary>
    public string? DrainReason { get; init; }

    public string? DrainedBy { get; init; }
    public DateTimeOffset? DrainTime { get; init; }

    public bool Drained => DrainReason is not null;

    public DateTimeOffset? LastHeartbeat { get; init; }
    public int AllocatedCpus { get; init; }
    public long AllocatedMemoryMiB { get; init; }
    public int RunningJobs { get; init; }

    /// <summary>The generic resources the node declares (<c>gpu:a100:4,gpu:t4:2</c>).</summary>
    public GresList Gres { get; init; } = GresList.None;

    /// <summary>The devices running jobs hold now.</summary>
    public IReadOnlyList<GresDevice> AllocatedDevices { get; init; } = [];

    /// <summary>What the node's agent found and did when it last started.</summary>
    public RecoveryReport? LastRecovery { get; init; }
}

/// <summary>The result of an agent's recovery at start: how many jobs it looked at, recovered and left alone.</summary>
public sealed record RecoveryReport(
    DateTimeOffset Time,
    int Total,
    int Recovered,
    int Skipped,
    TimeSpan Duration,
    IReadOnlyList<string> Actions)
{
    /// <summary>How the node's agent contains jobs (their own cgroups, or only their session), as found at its start.</summary>
    public string? Containment { get; init; }
}
