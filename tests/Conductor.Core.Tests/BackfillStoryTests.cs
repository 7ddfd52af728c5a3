using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

/// <summary>Backfill, GPUs and multifactor priority, each told as a short story on a small cluster.</summary>
public sealed class BackfillStoryTests
{
    [Fact]
    public void Plan_BackfillsAShortJob_ButNotALongOne_WhenAWideJobWaits()
    {
        // R holds one of two CPUs for another minute; W needs both.
        var plan = Cluster.WithNodes(2)
            .Running("n01", [0], endsIn: "1:00")
            .Submit(cpus: 2, time: "1:00")   // 1: W
            .Submit(cpus: 1, time: "0:20")   // 2: S, done before W can start
            .Submit(cpus: 1, time: "10:00")  // 3: L, would still run when W should start
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources)
            .AssertExpectedStart(1, "1:00", "n01")
            .AssertStarted(2, "n01", 1)
            .AssertWaiting(3, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_BackfillsALongJob_WhenItUsesWhatNoReservationNeeds()
    {
        // n01 has 4 CPUs and 1 GPU, held by a job for another hour. Job 1 waits for the GPU and needs 2 CPUs of 4:
        // job 2 can run beside it for a day, job 3 no more.
        var plan = Cluster.WithGpuNodes(1, cpus: 4, gres: "gpu:1")
            .Running("n01", [0], endsIn: "1:00:00", gpus: [0])
            .Submit(cpus: 2, gres: "gpu:1", time: "1:00:00")
            .Submit(cpus: 2, time: "1-00:00:00")
            .Submit(cpus: 1, time: "1-00:00:00")
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources)
            .AssertExpectedStart(1, "1:00:00")
            .AssertStarted(2, "n01", 1, 2)
            .AssertWaiting(3, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_GivesTwoGpuJobsDisjointDevices_AndTheThirdWaitsForResources()
    {
        var plan = Cluster.WithGpuNodes(1, cpus: 4, gres: "gpu:2")
            .Submit(gres: "gpu:1", time: "0:10")
            .Submit(gres: "gpu:1", time: "0:10")
            .Submit(gres: "gpu:1", time: "0:10")
            .Plan();

        plan.AssertGpus(1, 0)
            .AssertGpus(2, 1)
            .AssertWaiting(3, PendingReasons.Resources)
            .AssertExpectedStart(3, "0:10");
    }

    [Fact]
    public void Plan_SkipsDevicesThatRunningJobsHold()
    {
        var plan = Cluster.WithGpuNodes(1, cpus: 8, gres: "gpu:4")
            .Running("n01", [0], gpus: [0, 2])
            .Submit(gres: "gpu:2")
            .Plan();

        plan.AssertGpus(1, 1, 3);
    }

    [Fact]
    public void Plan_GivesTypedRequestsDevicesOfTheirType_NumberedAcrossTypes()
    {
        // a100 devices are gpu 0 and 1, t4 devices gpu 2 and 3.
        var plan = Cluster.WithGpuNodes(1, cpus: 8, gres: "gpu:a100:2,gpu:t4:2")
            .Submit(gres: "gpu:t4:1")
            .Submit(gres: "gpu:a100:2")
            .Submit(gres: "gpu:t4:2")
            .Submit(gres: "gpu:1")
            .Plan();

        plan.AssertGpus(1, 2)
            .AssertGpus(2, 0, 1)
            .AssertWaiting(3, PendingReasons.Resources)
            .AssertGpus(4, 3);
    }

    [Fact]
    public void Plan_PutsAGpuJobOnlyOnANodeWithGpus()
    {
        var plan = Cluster.Empty()
            .Node("cpu01", 16)
            .Node("gpu01", 4, gres: "gpu:1")
            .Submit(cpus: 2, gres: "gpu:1")
            .Submit(cpus: 2)
            .Plan();

        plan.AssertStarted(1, "gpu01").AssertGpus(1, 0).AssertStarted(2, "cpu01");
    }

    [Fact]
    public void Plan_WaitsForResources_WhenNoNodeDeclaresTheResource()
    {
        var plan = Cluster.WithNodes(4).Submit(gres: "gpu:1").Submit().Plan();

        plan.AssertWaiting(1, PendingReasons.Resources).AssertNoExpectedStart(1).AssertStarted(2, "n01");
    }

    [Fact]
    public void Plan_ReservesOnTheNodeThatFreesFirst()
    {
        var plan = Cluster.WithNodes(4, 4)
            .Running("n01", [0, 1, 2, 3], endsIn: "30:00")
            .Running("n02", [0, 1, 2, 3], endsIn: "10:00")
            .Submit(cpus: 4, time: "1:00:00")
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources).AssertExpectedStart(1, "10:00", "n02");
    }

    [Fact]
    public void Plan_ReservesBehindEarlierReservations_AndProtectsBoth()
    {
        // Two wide jobs wait; the second can only start when the first's reservation ends.
        var plan = Cluster.WithNodes(4)
            .Running("n01", [0, 1, 2, 3], endsIn: "10:00")
            .Submit(cpus: 4, time: "20:00")
            .Submit(cpus: 4, time: "20:00")
            .Submit(cpus: 1, time: "5:00")
            .Plan();

        plan.AssertExpectedStart(1, "10:00")
            .AssertExpectedStart(2, "30:00")
            .AssertWaiting(2, PendingReasons.Priority)
            .AssertWaiting(3, PendingReasons.Priority);
    }

    [Theory]
    [InlineData(1, null)]
    [InlineData(2, "1:10:00")]
    public void Plan_ReservesOnlyTheFirstJobs_UpToTheBackfillDepth(int depth, string? secondStart)
    {
        var plan = Cluster.WithNodes(4)
            .With(PolicyOptions.Default with { BackfillDepth = depth })
            .Running("n01", [0, 1, 2], endsIn: "10:00")
            .Submit(cpus: 4, time: "1:00:00")
            .Submit(cpus: 4, time: "1:00:00")
            .Plan();

        plan.AssertExpectedStart(1, "10:00");
        if (secondStart is null)
        {
            plan.AssertNoExpectedStart(2);
        }
        else
        {
            plan.AssertExpectedStart(2, secondStart);
        }
    }

    [Fact]
    public void Plan_LetsSmallJobsPass_WhenTheBlockedJobCanNeverBeTimed()
    {
        // The running job has no time limit, so no start can be promised to the wide job: nothing is held for it.
        var plan = Cluster.WithNodes(4)
            .Running("n01", [0, 1])
            .Submit(cpus: 4, time: "1:00")
            .Submit(cpus: 2)
            .Plan();

        plan.AssertWaiting(1, PendingReasons.Resources).AssertNoExpectedStart(1).AssertStarted(2, "n01", 2, 3);
    }

    [Fact]
    public void Plan_TreatsAnOverrunningJobAsEndingAtOnce()
    {
        // The running job should have ended a minute ago; it is still being stopped.
        var plan = Cluster.WithNodes(2)
            .Running("n01", [0, 1], endsIn: "1:00")
            .Submit(cpus: 2, time: "1:00")
            .Plan(Cluster.Now.AddMinutes(2));

        plan.AssertWaiting(1, PendingReasons.Resources).AssertExpectedStart(1, "2:01");
    }

    [Fact]
    public void Plan_ReservesTheWholeNode_ForAnExclusiveJob()
    {
        var plan = Cluster.WithNodes(8)
            .Running("n01", [0], endsIn: "10:00")
            .Submit(cpus: 1, exclusive: true, time: "1:00:00")
            .Submit(cpus: 1, time: "5:00")
            .Submit(cpus: 1, time: "20:00")
            .Plan();

        plan.AssertExpectedStart(1, "10:00").AssertStarted(2, "n01").AssertWaiting(3, PendingReasons.Priority);
    }

    [Fact]
    public void Plan_GivesAGatedJobItsReason_WithoutBlockingOthers()
    {
        var snapshot = Cluster.WithNodes(1).Submit().Submit().Snapshot();
        var gated = snapshot with { Pending = [snapshot.Pending[0] with { Ineligible = "Dependency" }, snapshot.Pending[1]] };

        var plan = new PlanResult(new BackfillPolicy().Plan(gated, Cluster.Now));

        plan.AssertWaiting(1, "Dependency").AssertStarted(2, "n01");
    }

    [Fact]
    public void Plan_PrefersTheAccountThatUsedLess()
    {
        var plan = Cluster.WithNodes(1)
            .Used("heavy", 1_000_000)
            .Used("light", 1_000)
            .Submit(account: "heavy")
            .Submit(account: "light")
            .Plan();

        plan.AssertStarted(2, "n01").AssertWaiting(1, PendingReasons.Resources);
    }

    [Fact]
    public void Plan_InterleavesAccounts_WhenTheyStartEven()
    {
        var cluster = Cluster.WithNodes(4);
        for (var i = 0; i < 4; i++)
        {
            cluster.Submit(account: "a", time: "1:00");
        }

        for (var i = 0; i < 4; i++)
        {
            cluster.Submit(account: "b", time: "1:00");
        }

        var plan = cluster.Plan();

        Assert.Equal([1L, 5L, 2L, 6L], plan.StartedIds);
    }

    [Fact]
    public void Plan_StartsTheOlderJobFirst_WhenAgeOutweighsASmallNice()
    {
        var plan = Cluster.WithNodes(1)
            .Submit(nice: 10, submitTime: Cluster.Now.AddDays(-7))
            .Submit(nice: 0, submitTime: Cluster.Now)
            .Plan();

        plan.AssertStarted(1, "n01");
    }

    [Fact]
    public void Factors_ListEveryPart_AndAddUpToThePriority()
    {
        var snapshot = Cluster.WithNodes(8, 4)
            .Used("a", 3600)
            .Used("b", 3600)
            .Submit(cpus: 4, nice: 5, submitTime: Cluster.Now.AddDays(-3.5), account: "a")
            .Snapshot();

        var factors = new PriorityModel(snapshot, Cluster.Now, PolicyOptions.Default with { JobSizeWeight = 1000 }).Factors(snapshot.Pending[0]);

        Assert.Equal(0.5, factors.Age, 6);
        Assert.Equal(0.5, factors.JobSize, 6);
        Assert.Equal(0.5, factors.FairShare, 6);
        Assert.Equal(5, factors.Nice);
        Assert.Equal(500 + 5000 + 500 - 5, factors.Priority);
    }
}
