using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Server.Auth;

namespace Conductor.Server.Jobs;

/// <summary>What an overview shows: job counts, nodes with their use, and the newest running and pending jobs.</summary>
public sealed record DashboardData(
    JobCounts Counts,
    IReadOnlyList<NodeRecord> Nodes,
    IReadOnlyList<JobRecord> Running,
    IReadOnlyList<JobRecord> Pending)
{
    /// <summary>For each array among the running and pending jobs, how many of its tasks are in each state.</summary>
    public IReadOnlyDictionary<JobId, ArrayTaskCounts> Arrays { get; init; } = new Dictionary<JobId, ArrayTaskCounts>();

    public int TotalCpus => Nodes.Sum(n => n.Cpus);

    public int AllocatedCpus => Nodes.Sum(n => n.AllocatedCpus);

    /// <summary>CPUs free on nodes that are up; a down node offers none.</summary>
    public int IdleCpus => Nodes.Where(n => n.State == NodeState.Up && !n.Drained).Sum(n => Math.Max(0, n.Cpus - n.AllocatedCpus));

    public long TotalMemoryMiB => Nodes.Sum(n => n.MemoryMiB);

    public long AllocatedMemoryMiB => Nodes.Sum(n => n.AllocatedMemoryMiB);

    public static double Percent(double part, double whole) => whole <= 0 ? 0 : Math.Round(part * 100.0 / whole, 2);
}

public sealed class DashboardService(IJobStore jobs, INodeStore nodes)
{
    public const int ListSize = 20;

    public async Task<DashboardData> GetAsync(Caller caller, CancellationToken ct)
    {
        var counts = await jobs.CountByStateAsync(ct);
        var nodeList = await nodes.ListAsync(ct);
        var user = caller.IsAdmin ? null : caller.User;
        var running = await jobs.ListAsync(new JobQuery { States = [JobState.Running], User = user, Descending = true, Limit = ListSize }, ct);
        var pending = await jobs.ListAsync(new JobQuery { States = [JobState.Pending], User = user, Descending = true, Limit = ListSize }, ct);
        var arrays = new Dictionary<JobId, ArrayTaskCounts>();
        foreach (var array in running.Concat(pending).Select(j => j.ArrayJobId).OfType<JobId>().Distinct())
        {
            if (await jobs.GetArrayCountsAsync(array, ct) is { } tasks)
            {
                arrays[array] = tasks;
            }
        }

        return new DashboardData(counts, nodeList, running, pending) { Arrays = arrays };
    }
}
