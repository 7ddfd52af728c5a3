using Conductor.Core.Scheduling;

namespace Conductor.Core.Jobs;

/// <summary>A validated job specification, with every default applied.</summary>
public sealed record JobSpec
{
    public required string Name { get; init; }

    /// <summary>The charge label for accounting and fair-share (Slurm's account); it grants nothing.</summary>
    public required string Account { get; init; }

    /// <summary>
    /// The owner: the Unix user the job runs as (when the agent runs as root) and the only non-admin who may see,
    /// change or cancel it. Set by the server from the caller, never by the submitted fields.
    /// </summary>
    public string User { get; init; } = "";

    public required string Partition { get; init; }
    public int CpusPerTask { get; init; } = 1;
    public int Ntasks { get; init; } = 1;
    public int NtasksPerNode { get; init; } = 1;

    /// <summary>Memory reserved on the node, in MiB; <c>null</c> when the job asked for none.</summary>
    public long? MemoryMiB { get; init; }

    /// <summary>The time limit; <c>null</c> means UNLIMITED.</summary>
    public TimeSpan? TimeLimit { get; init; }

    public required string WorkDir { get; init; }
    public string StdoutPattern { get; init; } = "slurm-%j.out";

    /// <summary>The stderr pattern; <c>null</c> means the same file as stdout.</summary>
    public string? StderrPattern { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<string> Arguments { get; init; } = [];
    public bool Exclusive { get; init; }
    public bool Requeue { get; init; }

    /// <summary>How many times an infrastructure failure or a requeue may start the job again.</summary>
    public int MaxRetries { get; init; }

    public int Nice { get; init; }

    /// <summary>The generic resources the job needs on its node, every task included (<c>--gres</c>, <c>--gpus</c>, <c>--gpus-per-task</c>).</summary>
    public GresList Gres { get; init; } = GresList.None;

    /// <summary>GPUs asked for the whole job (<c>--gpus</c>), already counted in <see cref="Gres"/>; kept for how Slurm shows the request.</summary>
    public int? GpusPerJob { get; init; }

    /// <summary>GPUs asked per task (<c>--gpus-per-task</c>), already counted in <see cref="Gres"/> for every task.</summary>
    public int? GpusPerTask { get; init; }

    public bool Hold { get; init; }
    public DateTimeOffset? Begin { get; init; }

    /// <summary>The array the job belongs to (<c>--array</c>): every task carries its array's spec.</summary>
    public JobArraySpec? Array { get; init; }

    /// <summary>What the job waits for before it may start (Slurm's <c>--dependency</c>); null when nothing, or once met.</summary>
    public Dependency? Dependency { get; init; }

    /// <summary>
    /// Slurm's <c>--kill-on-invalid-dep=yes|no</c>: whether the job is cancelled once its dependency can never be met;
    /// null follows the server's <c>--kill-on-invalid-dep</c>. Written with the job and read by the dependency gate.
    /// </summary>
    public bool? KillOnInvalidDependency { get; init; }

    /// <summary>The owner, for rows written before owners were recorded: then the account named the owner.</summary>
    public string Owner => User.Length > 0 ? User : Account;

    /// <summary>CPUs the job occupies on its node: tasks × CPUs per task.</summary>
    public int TotalCpus => Ntasks * CpusPerTask;

    /// <summary>Higher runs first. Nice lowers priority, as in Slurm.</summary>
    public int Priority => -Nice;
}

/// <summary>What a submission carries before validation: every field optional, as it arrives over the wire.</summary>
public sealed record JobSpecInput
{
    public string? Name { get; init; }
    public string? Account { get; init; }
    public string? Partition { get; init; }
    public int? CpusPerTask { get; init; }
    public int? Ntasks { get; init; }
    public int? NtasksPerNode { get; init; }
    public int? Nodes { get; init; }
    public string? MemoryPerNode { get; init; }
    public string? MemoryPerCpu { get; init; }
    public string? TimeLimit { get; init; }
    public string? CurrentWorkingDirectory { get; init; }
    public string? StandardOutput { get; init; }
    public string? StandardError { get; init; }
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }
    public bool? Exclusive { get; init; }
    public bool? Requeue { get; init; }
    public int? MaxRetries { get; init; }
    public string? Array { get; init; }
    public string? Dependency { get; init; }

    /// <summary>Slurm's <c>--kill-on-invalid-dep</c> (slurmrestd's <c>kill_on_invalid_dependency</c>); null: the server's choice.</summary>
    public bool? KillOnInvalidDependency { get; init; }

    public string? Begin { get; init; }
    public int? Nice { get; init; }

    /// <summary>Slurm's <c>--gres</c>: <c>gpu:2</c>, <c>gpu:a100:1</c>, comma-separated.</summary>
    public string? Gres { get; init; }

    /// <summary>Slurm's <c>--gpus</c>: GPUs for the whole job.</summary>
    public int? Gpus { get; init; }

    /// <summary>Slurm's <c>--gpus-per-task</c>.</summary>
    public int? GpusPerTask { get; init; }

    public bool? Hold { get; init; }
    public IReadOnlyList<string>? Arguments { get; init; }

    /// <summary>The user to run the job as (Slurm's <c>--uid</c>); only the admin may name another user.</summary>
    public string? Uid { get; init; }
}
