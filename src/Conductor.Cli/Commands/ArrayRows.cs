using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Commands;

/// <summary>
/// squeue's way with arrays: the pending tasks of one array that wait for the same reason are one line, named
/// <c>123_[8-100%4]</c>; running and ended tasks are a line each (<c>123_7</c>).
/// </summary>
public static class ArrayRows
{
    /// <summary>The jobs as squeue lists them, each with the id it shows, in the order given.</summary>
    public static IReadOnlyList<(string Id, JobView Job)> Collapse(IReadOnlyList<JobView> jobs)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var groups = jobs
            .Where(j => j.State == "PENDING" && j.ArrayJobId is not null)
            .GroupBy(j => (j.ArrayJobId, j.Reason))
            .ToDictionary(g => g.First(), g => g.ToList());
        var grouped = groups.Values.SelectMany(g => g).ToHashSet();
        var rows = new List<(string, JobView)>();
        foreach (var job in jobs)
        {
            if (groups.TryGetValue(job, out var members))
            {
                rows.Add((Name(members), members.FirstOrDefault(m => m.ArrayPendingTasks is not null) ?? job));
            }
            else if (!grouped.Contains(job))
            {
                rows.Add((job.DisplayId, job));
            }
        }

        return rows;
    }

    private static string Name(List<JobView> members)
    {
        if (members.Count == 1)
        {
            return members[0].DisplayId;
        }

        var set = members.Aggregate(TaskSet.Empty, (all, m) => all.Union(
            m.ArrayTaskId is { } t ? TaskSet.Of(t) : m.ArrayPendingTasks is { } p ? TaskSet.Parse(p) : TaskSet.Empty));
        var limit = members.Select(m => m.Array).FirstOrDefault(a => a is not null) is { } array && JobArraySpec.Parse(array).MaxRunning is { } n
            ? "%" + n.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : "";
        return $"{members[0].ArrayJobId}_[{set}{limit}]";
    }
}
