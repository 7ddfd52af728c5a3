using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class UserLimitsTests
{
    /// <summary>Each job's owner is its account in these scenarios.</summary>
    private static UserLoad Load(SchedulerSnapshot snapshot, params (string User, int Jobs, int Cpus)[] running) =>
        new(snapshot.Pending.ToDictionary(j => j.Id, j => j.Account),
            running.ToDictionary(r => r.User, r => new UserUsage(r.Jobs, r.Cpus), StringComparer.Ordinal));

    private static SchedulingPlan PlanGated(Cluster cluster, UserLimits limits, params (string User, int Jobs, int Cpus)[] running)
    {
        var snapshot = cluster.Snapshot();
        return new BackfillPolicy().Plan(limits.Gate(snapshot, Load(snapshot, running), Cluster.Now), Cluster.Now);
    }

    [Fact]
    public void Gate_StartsAtMostTheRunningLimit_AndTheRestWaitWithSlurmsReason_WhileOthersRun()
    {
        var cluster = Cluster.WithNodes(16)
            .Submit(account: "alice").Submit(account: "alice").Submit(account: "alice")
            .Submit(account: "bob");

        var plan = PlanGated(cluster, new UserLimits(new UserLimit(MaxRunning: 2)), ("alice", 1, 1));

        Assert.Equal([1L, 4L], plan.Starts.Select(s => s.JobId.Value).Order());
        Assert.Contains(plan.ReasonChanges, r => r.JobId.Value == 2 && r.Reason == UserLimits.MaxJobsReason);
        Assert.Contains(plan.ReasonChanges, r => r.JobId.Value == 3 && r.Reason == UserLimits.MaxJobsReason);
    }

    [Fact]
    public void Gate_KeepsAUsersCpusUnderTheLimit_ASmallerLaterJobMayStillFit()
    {
        var cluster = Cluster.WithNodes(16)
            .Submit(cpus: 4, account: "alice").Submit(cpus: 4, account: "alice").Submit(cpus: 1, account: "alice");

        var plan = PlanGated(cluster, new UserLimits(new UserLimit(MaxCpus: 6)));

        Assert.Equal([1L, 3L], plan.Starts.Select(s => s.JobId.Value).Order());
        Assert.Contains(plan.ReasonChanges, r => r.JobId.Value == 2 && r.Reason == UserLimits.MaxCpusReason);
    }

    [Fact]
    public void Gate_OverridesForOneUser_LiftOrTightenTheDefault()
    {
        var defaults = new UserLimit(MaxRunning: 1);
        Assert.True(UserLimits.TryParseOverride("alice MaxRunning=UNLIMITED MaxCpus=64", defaults, out var user, out var alice, out _));
        var limits = new UserLimits(defaults, new Dictionary<string, UserLimit> { [user] = alice });
        var cluster = Cluster.WithNodes(16)
            .Submit(account: "alice").Submit(account: "alice")
            .Submit(account: "bob").Submit(account: "bob");

        var plan = PlanGated(cluster, limits);

        Assert.Equal([1L, 2L, 3L], plan.Starts.Select(s => s.JobId.Value).Order());
        Assert.Equal(new UserLimit(null, null, 64), limits.For("alice"));
        Assert.Equal(defaults, limits.For("carol"));
    }

    [Fact]
    public void Gate_LeavesHeldAndDependentJobsTheirOwnReason_AndChangesNothingWithoutLimits()
    {
        var cluster = Cluster.WithNodes(16).Submit(account: "alice", held: true).Submit(account: "alice");
        var snapshot = cluster.Snapshot();

        var gated = new UserLimits(new UserLimit(MaxRunning: 1)).Gate(snapshot, Load(snapshot), Cluster.Now);

        Assert.All(gated.Pending, j => Assert.Null(j.Ineligible));
        Assert.Same(snapshot, UserLimits.None.Gate(snapshot, Load(snapshot), Cluster.Now));
    }

    [Fact]
    public void Gate_RandomQueues_NeverLetAUserBeyondTheirLimits()
    {
        var random = new Random(17);
        for (var round = 0; round < 200; round++)
        {
            var cluster = Cluster.WithNodes(random.Next(4, 33), random.Next(4, 33));
            var users = new[] { "alice", "bob", "carol" };
            for (var i = random.Next(1, 40); i > 0; i--)
            {
                cluster.Submit(cpus: random.Next(1, 9), nice: random.Next(-5, 6), account: users[random.Next(users.Length)]);
            }

            var running = users.Select(u => (u, random.Next(0, 3), random.Next(0, 8))).ToArray();
            var limits = new UserLimits(new UserLimit(MaxRunning: random.Next(0, 5), MaxCpus: random.Next(0, 24)));
            var snapshot = cluster.Snapshot();
            var plan = PlanGated(cluster, limits, running);

            foreach (var (user, jobs, cpus) in running)
            {
                var started = plan.Starts.Where(s => snapshot.Pending.Single(j => j.Id == s.JobId).Account == user).ToList();
                Assert.True(jobs + started.Count <= Math.Max(jobs, limits.Default.MaxRunning!.Value), $"round {round}: {user} runs too many jobs");
                Assert.True(cpus + started.Sum(s => s.Cores.Count) <= Math.Max(cpus, limits.Default.MaxCpus!.Value), $"round {round}: {user} holds too many CPUs");
            }
        }
    }

    [Theory]
    [InlineData("alice", "a user's name and limits")]
    [InlineData("MaxRunning=3", "a user's name and limits")]
    [InlineData("alice MaxRunning=-1", "is not a user limit")]
    [InlineData("alice MaxJobs=3", "is not a user limit")]
    public void TryParseOverride_RefusesWhatIsNotALimit(string line, string message)
    {
        Assert.False(UserLimits.TryParseOverride(line, UserLimit.None, out _, out _, out var error));
        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
