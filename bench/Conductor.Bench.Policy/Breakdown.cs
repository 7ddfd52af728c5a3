using System.Diagnostics;
using System.Globalization;
using Conductor.Core.Scheduling;

namespace Conductor.Bench.Policy;

/// <summary>
/// A Stopwatch breakdown of the most expensive pass (every job tried on every node): the same steps as
/// BackfillPolicy.Plan, timed one by one — the order (copy and sort), and the per-job node scans with
/// the partition membership test they make (one scan to place the job, one to tell the reason).
/// These are replicas of the policy's steps, for attribution; the policy itself is what PassBenchmarks times.
/// </summary>
public static class Breakdown
{
    public static void Run(int pending, int nodes, int iterations)
    {
        var snapshot = Snapshots.Create(pending, nodes, Occupancy.Full);
        var policy = new BackfillPolicy();
        var now = new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero);

        var whole = Time(iterations, () => policy.Plan(snapshot, now));
        var sort = Time(iterations, () =>
        {
            var copy = snapshot.Pending.ToArray();
            Array.Sort(copy, Order);
        });
        var nodeList = snapshot.Nodes.ToArray();
        var scans = Time(iterations, () =>
        {
            var hits = 0;
            foreach (var job in snapshot.Pending)
            {
                // Placement: each node is tested for partition membership, then for room.
                foreach (var node in nodeList)
                {
                    if (node.Partitions.Contains(job.Partition, StringComparer.Ordinal) && node.Cpus - Snapshots.BusyCoresWhenFull >= job.Cpus)
                    {
                        hits++;
                    }
                }

                // The reason: is any node of the partition up?
                if (nodeList.Any(n => n.Partitions.Contains(job.Partition, StringComparer.Ordinal) && n.State == Core.Nodes.NodeState.Up))
                {
                    hits++;
                }
            }

            return hits;
        });

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""

            # breakdown of one pass, {pending} pending on {nodes} full nodes (median of {iterations}, ms)
            whole Plan                                   {whole,9:F3}
            copy + sort of the pending jobs              {sort,9:F3}
            node scans (placement + reason), replica     {scans,9:F3}
            rest (node set-up, reasons, lists)           {whole - sort - scans,9:F3}
            """));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT bench=policy-breakdown pending={pending} nodes={nodes} plan_ms={whole:F3} sort_ms={sort:F3} scans_ms={scans:F3}"));
    }

    private static readonly Comparer<PendingJob> Order = Comparer<PendingJob>.Create((x, y) =>
    {
        var c = y.Priority.CompareTo(x.Priority);
        if (c != 0)
        {
            return c;
        }

        c = x.SubmitTime.CompareTo(y.SubmitTime);
        return c != 0 ? c : x.Id.CompareTo(y.Id);
    });

    private static double Time<T>(int iterations, Func<T> step)
    {
        for (var i = 0; i < 3; i++)
        {
            step();
        }

        var times = new double[iterations];
        for (var i = 0; i < iterations; i++)
        {
            var t = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }

        Array.Sort(times);
        return times[(times.Length - 1) / 2];
    }

    private static double Time(int iterations, Action step) => Time(iterations, () =>
    {
        step();
        return 0;
    });
}
