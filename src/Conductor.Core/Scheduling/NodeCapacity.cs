using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>The free cores and memory of one node during a pass; the policy's working copy.</summary>
internal sealed class NodeCapacity
{
    private readonly bool[] _coreFree;

    public NodeCapacity(NodeSnapshot node)
    {
        Node = node;
        _coreFree = new bool[node.Cpus];
        Array.Fill(_coreFree, true);
        FreeCores = node.Cpus;
        FreeMemoryMiB = node.MemoryMiB;
        foreach (var allocation in node.Allocations)
        {
            Take(allocation.Cores, allocation.MemoryMiB, allocation.Exclusive);
        }
    }

    public NodeSnapshot Node { get; }
    public int FreeCores { get; private set; }
    public long FreeMemoryMiB { get; private set; }
    public int Jobs { get; private set; }
    public bool HeldExclusively { get; private set; }

    public bool InPartition(string partition) => Node.Partitions.Contains(partition, StringComparer.Ordinal);

    public bool CanRunNow(PendingJob job) =>
        Node.State == NodeState.Up &&
        !HeldExclusively &&
        (!job.Exclusive || Jobs == 0) &&
        job.Cpus <= FreeCores &&
        job.MemoryMiB <= FreeMemoryMiB;

    /// <summary>Takes the lowest-numbered free cores for the job and returns them.</summary>
    public IReadOnlyList<int> Allocate(PendingJob job)
    {
        var cores = new int[job.Cpus];
        var n = 0;
        for (var i = 0; i < _coreFree.Length && n < cores.Length; i++)
        {
            if (_coreFree[i])
            {
                cores[n++] = i;
            }
        }

        // An exclusive job owns the whole node; it is pinned to its own cores all the same.
        Take(cores, job.MemoryMiB, job.Exclusive);
        return cores;
    }

    private void Take(IReadOnlyList<int> cores, long memoryMiB, bool exclusive)
    {
        foreach (var core in cores)
        {
            if (core >= 0 && core < _coreFree.Length && _coreFree[core])
            {
                _coreFree[core] = false;
                FreeCores--;
            }
        }

        FreeMemoryMiB -= memoryMiB;
        Jobs++;
        HeldExclusively |= exclusive;
    }
}
