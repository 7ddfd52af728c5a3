using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Bench.Policy;

/// <summary>How full the nodes are when the pass runs.</summary>
public enum Occupancy
{
    /// <summary>
    /// 62 of each node's 64 cores run single-core jobs and every pending job asks for 4 CPUs: nothing fits,
    /// yet the cluster has free cores, so every job is tried on every node — the expensive steady state.
    /// </summary>
    Full,

    /// <summary>Empty nodes and single-core jobs: the first 64 × nodes jobs start, the rest wait.</summary>
    Fits,
}

/// <summary>Synthetic scheduler snapshots of the shapes the store produces.</summary>
public static class Snapshots
{
    public const int CoresPerNode = 64;
    public const int BusyCoresWhenFull = 62;

    private static readonly GresList NodeGpus = GresList.Parse("gpu:8");
    private static readonly GresList OneGpu = GresList.Parse("gpu:1");
    private static readonly string[] AccountNames = ["physics", "chemistry", "biology", "maths"];

    /// <summary>
    /// A snapshot of <paramref name="pending"/> jobs on <paramref name="nodes"/> nodes. With <paramref name="gres"/>,
    /// every node has 8 GPUs (all held by running jobs when full) and every fourth job asks for one.
    /// </summary>
    public static SchedulerSnapshot Create(int pending, int nodes, Occupancy occupancy, bool gres = false)
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var partitions = new[] { "default" };
        var nextId = 1L;
        var nodeList = new List<NodeSnapshot>(nodes);
        for (var n = 0; n < nodes; n++)
        {
            var allocations = new List<RunningAllocation>();
            if (occupancy == Occupancy.Full)
            {
                for (var core = 0; core < BusyCoresWhenFull; core++)
                {
                    IReadOnlyList<GresDevice>? devices = gres && core < 8 ? [new GresDevice(GresDevice.Gpu, core)] : null;
                    allocations.Add(new RunningAllocation(new JobId(nextId++), [core], 1024, false, start.AddHours(1).AddMinutes(core), devices, "acct", start));
                }
            }

            nodeList.Add(new NodeSnapshot(
                new NodeName($"node{n:D3}"), CoresPerNode, 256 * 1024, partitions, NodeState.Up, allocations, gres ? NodeGpus : null));
        }

        var cpus = occupancy == Occupancy.Full ? 4 : 1;
        var jobs = new List<PendingJob>(pending);
        for (var i = 0; i < pending; i++)
        {
            // A few priority levels, so that the sort has real work; submit times in order of id.
            jobs.Add(new PendingJob(
                new JobId(nextId++), Priority: i % 7 == 0 ? 10 : 0, start.AddMilliseconds(i), "default", cpus, 1024,
                Exclusive: false, Held: false, Begin: null, TimeLimit: TimeSpan.FromHours(1),
                Reason: i == 0 ? PendingReasons.Resources : PendingReasons.Priority,
                Account: AccountNames[i % AccountNames.Length],
                Gres: gres && i % 4 == 0 ? OneGpu : null));
        }

        return new SchedulerSnapshot(jobs, nodeList);
    }
}
