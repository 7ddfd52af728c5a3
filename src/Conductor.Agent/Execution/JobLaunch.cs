using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;

namespace Conductor.Agent.Execution;

/// <summary>
/// Everything the agent needs to run one attempt of a job on its node: the job as the store placed it (its spec,
/// attempt and cores) and its script.
/// </summary>
/// <param name="Node">The node that runs it (the job's own, or this agent's when the record names none).</param>
public sealed record JobLaunch(JobRecord Job, string Script, NodeName Node)
{
    public JobId JobId => Job.Id;

    /// <summary>The attempt (1 for the first dispatch); SLURM_RESTART_COUNT is attempt - 1.</summary>
    public int Attempt => Job.Attempt;

    public JobSpec Spec => Job.Spec;

    /// <summary>The node's cores allocated to this attempt.</summary>
    public IReadOnlyList<int> Cores => Job.Cores;

    public static JobLaunch FromDispatch(Dispatch dispatch, NodeName node)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        return new JobLaunch(dispatch.Job, dispatch.Script, dispatch.Job.Node ?? node);
    }

    /// <summary>The same launch with its spec changed.</summary>
    public JobLaunch WithSpec(Func<JobSpec, JobSpec> change) => this with { Job = Job with { Spec = change(Job.Spec) } };
}
