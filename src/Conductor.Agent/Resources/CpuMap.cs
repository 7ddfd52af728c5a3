using Conductor.Agent.Processes;

namespace Conductor.Agent.Resources;

/// <summary>
/// Maps the node's core numbers (0..cpus-1, as the scheduler hands them out) onto the CPUs this agent may use
/// (its own affinity, in order). A node configured with more CPUs than the machine has wraps around.
/// </summary>
public sealed class CpuMap
{
    public CpuMap()
        : this(PosixProcessLauncher.AllowedCpus())
    {
    }

    public CpuMap(IReadOnlyList<int> allowed)
    {
        Allowed = allowed.Count > 0 ? allowed : [0];
    }

    public IReadOnlyList<int> Allowed { get; }

    public IReadOnlyList<int> Map(IReadOnlyList<int> cores) =>
        cores.Select(c => Allowed[((c % Allowed.Count) + Allowed.Count) % Allowed.Count]).Distinct().Order().ToList();
}
