using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Agent.Execution;

/// <summary>Everything the agent needs to run one attempt of a job on its node.</summary>
public sealed record JobLaunch
{
    public required JobId JobId { get; init; }

    /// <summary>The attempt (1 for the first dispatch); SLURM_RESTART_COUNT is attempt - 1.</summary>
    public required int Attempt { get; init; }

    public required string Name { get; init; }
    public required string Account { get; init; }

    /// <summary>The owner: the Unix user the job runs as when the agent runs as root; empty runs it as the agent's user.</summary>
    public string User { get; init; } = "";

    public required string Partition { get; init; }
    public required NodeName Node { get; init; }
    public IReadOnlyList<int> Cores { get; init; } = [];
    public int CpusPerTask { get; init; } = 1;
    public int Ntasks { get; init; } = 1;
    public long? MemoryMiB { get; init; }

    /// <summary><c>null</c> means no time limit.</summary>
    public TimeSpan? TimeLimit { get; init; }

    public required string WorkDir { get; init; }
    public string StdoutPattern { get; init; } = "slurm-%j.out";

    /// <summary><c>null</c> means stderr goes to the stdout file.</summary>
    public string? StderrPattern { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<string> Arguments { get; init; } = [];
    public required string Script { get; init; }

    /// <summary>How many times a failed script is started again.</summary>
    public int MaxRetries { get; init; }

    /// <summary>Whether the job goes back to the queue when its node or agent loses it.</summary>
    public bool Requeue { get; init; }

    public int TotalCpus => Ntasks * CpusPerTask;

    public static JobLaunch FromDispatch(Dispatch dispatch, NodeName node)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        var job = dispatch.Job;
        var spec = job.Spec;
        return new JobLaunch
        {
            JobId = job.Id,
            Attempt = job.Attempt,
            Name = spec.Name,
            Account = spec.Account,
            User = spec.User,
            Partition = spec.Partition,
            Node = job.Node ?? node,
            Cores = job.Cores,
            CpusPerTask = spec.CpusPerTask,
            Ntasks = spec.Ntasks,
            MemoryMiB = spec.MemoryMiB,
            TimeLimit = spec.TimeLimit,
            WorkDir = spec.WorkDir,
            StdoutPattern = spec.StdoutPattern,
            StderrPattern = spec.StderrPattern,
            Environment = spec.Environment,
            Arguments = spec.Arguments,
            Script = dispatch.Script,
            MaxRetries = spec.MaxRetries,
            Requeue = spec.Requeue,
        };
    }
}
