using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class PendingSetTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static PendingJob Job(long id, int nice = 0, string account = "a", int cpus = 1, int submitMinutes = 0) =>
        new(new JobId(id), -nice, T0.AddMinutes(submitMinutes), "batch", cpus, 0, false, false, null, TimeSpan.FromHours(1), null, account);

    private static SchedulerSnapshot Snapshot(IReadOnlyList<PendingJob> pending) =>
        new(pending, [new NodeSnapshot(new NodeName("n1"), 1, 1024, ["batch"], NodeState.Up, [])]);

    [Fact]
    public void Apply_ReplacesChangedJobs_AndDropsThoseNoLongerPending()
    {
        var set = new PendingSet();
        set.Reset([Job(1), Job(2), Job(3)], new ChangeMark(0, 3));

        set.Apply([new JobId(2), new JobId(3), new JobId(4)], [Job(3, nice: 5), Job(4)], new ChangeMark(0, 6));

        Assert.Equal([1L, 3, 4], set.Jobs.Select(j => j.Id.Value).Order());
        Assert.Equal(-5, set.Jobs.Single(j => j.Id.Value == 3).Priority);
        Assert.Equal(new ChangeMark(0, 6), set.Mark);
    }

    [Fact]
    public void Apply_NeverMovesTheMarkBack()
    {
        var set = new PendingSet();
        set.Reset([], new ChangeMark(5, 9));

        set.Apply([], [], new ChangeMark(5, 2));

        Assert.Equal(new ChangeMark(5, 9), set.Mark);
    }

    [Fact]
    public void Jobs_FollowTheLastOrder_ThenTheJobsChangedSince()
    {
        var set = new PendingSet();
        set.Reset([Job(1), Job(2), Job(3)], new ChangeMark(0, 3));
        set.Reorder([new JobId(3), new JobId(1), new JobId(2)]);

        set.Apply([new JobId(1), new JobId(4)], [Job(1, nice: 1), Job(4)], new ChangeMark(0, 5));

        Assert.Equal([3L, 2, 1, 4], set.Jobs.Select(j => j.Id.Value).Take(2).Concat(set.Jobs.Skip(2).Select(j => j.Id.Value).Order()));
    }

    [Fact]
    public void Plan_IsTheSame_WhetherTheJobsComeShuffledOrInTheLastPassOrder()
    {
        var random = new Random(12);
        var jobs = Enumerable.Range(1, 400)
            .Select(i => Job(i, nice: random.Next(0, 3) * 10, account: $"acct{random.Next(3)}", cpus: 1, submitMinutes: random.Next(0, 50)))
            .ToList();
        var policy = new BackfillPolicy(PolicyOptions.Default);
        var now = T0.AddHours(2);
        var first = policy.Plan(Snapshot([.. jobs.OrderBy(_ => random.Next())]), now);

        // The next pass: the last order, with jobs that arrived since at the end.
        var byId = jobs.ToDictionary(j => j.Id);
        var arrived = new[] { Job(401, submitMinutes: 1), Job(402, nice: -10, account: "acct1") };
        var ordered = first.Order!.Select(id => byId[id]).Concat(arrived).ToList();
        var shuffled = ordered.OrderBy(_ => random.Next()).ToList();

        var fromOrder = policy.Plan(Snapshot(ordered), now.AddMinutes(1));
        var fromShuffle = policy.Plan(Snapshot(shuffled), now.AddMinutes(1));

        Assert.Equal(fromShuffle.Order, fromOrder.Order);
        Assert.Equal(
            fromShuffle.Starts.Select(s => (s.JobId, s.Node, string.Join(',', s.Cores))),
            fromOrder.Starts.Select(s => (s.JobId, s.Node, string.Join(',', s.Cores))));
        Assert.NotEmpty(fromOrder.Starts);
        Assert.Equal(fromShuffle.ReasonChanges, fromOrder.ReasonChanges);
        Assert.Equal(fromShuffle.ExpectedStarts, fromOrder.ExpectedStarts);
    }
}
