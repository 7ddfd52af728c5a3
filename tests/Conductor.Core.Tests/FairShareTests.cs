using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class FairShareTests
{
    /// <summary>
    /// Two accounts each submit 100 one-CPU jobs at once (account a first) on a 7-CPU node; every job runs 20 s of its
    /// one-minute limit. Passes run every 5 s of simulated time, as jobs end; ended jobs count in their account's usage.
    /// </summary>
    [Fact]
    public void Plan_SplitsTheFirstMinuteEvenly_BetweenTwoAccountsWithEqualShares()
    {
        var pending = new List<PendingJob>();
        for (var i = 0; i < 200; i++)
        {
            pending.Add(new PendingJob(
                new JobId(i + 1), 0, Cluster.Epoch, "default", 1, 0, false, false, null, TimeSpan.FromMinutes(1), null,
                Account: i < 100 ? "a" : "b"));
        }

        var runtime = TimeSpan.FromSeconds(20);
        var running = new List<(PendingJob Job, JobStart Start, DateTimeOffset At)>();
        var usage = new Dictionary<string, double>(StringComparer.Ordinal);
        var startedInFirstMinute = new Dictionary<string, int>(StringComparer.Ordinal) { ["a"] = 0, ["b"] = 0 };
        var policy = new BackfillPolicy();
        for (var now = Cluster.Now; now < Cluster.Now.AddMinutes(1); now += TimeSpan.FromSeconds(5))
        {
            foreach (var ended in running.Where(r => r.At + runtime <= now).ToList())
            {
                usage[ended.Job.Account] = usage.GetValueOrDefault(ended.Job.Account) + runtime.TotalSeconds;
                running.Remove(ended);
            }

            var allocations = running
                .Select(r => new RunningAllocation(r.Job.Id, r.Start.Cores, 0, false, r.At + r.Job.TimeLimit, null, r.Job.Account, r.At))
                .ToList();
            var node = new NodeSnapshot(new NodeName("n01"), 7, 1024, ["default"], NodeState.Up, allocations);
            var plan = policy.Plan(new SchedulerSnapshot([.. pending], [node], new Dictionary<string, double>(usage)), now);
            foreach (var start in plan.Starts)
            {
                var job = pending.Single(j => j.Id == start.JobId);
                pending.Remove(job);
                running.Add((job, start, now));
                startedInFirstMinute[job.Account]++;
            }
        }

        var total = startedInFirstMinute["a"] + startedInFirstMinute["b"];
        Assert.True(total >= 21, $"only {total} jobs started in the first minute");
        Assert.True(
            Math.Abs(startedInFirstMinute["a"] - startedInFirstMinute["b"]) <= total / 10.0,
            $"a started {startedInFirstMinute["a"]}, b {startedInFirstMinute["b"]}");
    }

    [Fact]
    public void Factor_IsOne_WhenNothingWasUsed_AndHalvesAsAnAccountUsesItsShare()
    {
        var empty = new FairShare(new SchedulerSnapshot([], []), PolicyOptions.Default);
        Assert.Equal(1, empty.Factor("a"));

        var used = new FairShare(
            new SchedulerSnapshot([], [], new Dictionary<string, double> { ["a"] = 300, ["b"] = 100 }),
            PolicyOptions.Default);

        // a has used 3/4 of all with a share of 1/2: 2^(-1.5); b 1/4: 2^(-0.5).
        Assert.Equal(Math.Pow(2, -1.5), used.Factor("a"), 9);
        Assert.Equal(Math.Pow(2, -0.5), used.Factor("b"), 9);
    }

    [Fact]
    public void Factor_CountsRunningJobs_WithGpusWeighted()
    {
        var node = new NodeSnapshot(new NodeName("n01"), 8, 1024, ["default"], NodeState.Up,
        [
            new RunningAllocation(new JobId(1), [0], 0, false, Cluster.Now.AddMinutes(10), [new GresDevice("gpu", 0)], "gpu-user", Cluster.Now),
            new RunningAllocation(new JobId(2), [1, 2], 0, false, Cluster.Now.AddMinutes(10), null, "cpu-user", Cluster.Now),
        ]);

        var fairShare = new FairShare(new SchedulerSnapshot([], [node]), PolicyOptions.Default with { GpuUsageWeight = 10 });

        Assert.Equal(11 * 600, fairShare.Usage("gpu-user"));
        Assert.Equal(2 * 600, fairShare.Usage("cpu-user"));
    }
}
