using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class JobArrayTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("1-100", "1-100", 100, 1, 100, 1)]
    [InlineData("1-100:2", "1-99:2", 50, 1, 99, 2)]
    [InlineData("1,3,5-7", "1,3,5-7", 5, 1, 7, 1)]
    [InlineData("0-15:4", "0-12:4", 4, 0, 12, 4)]
    [InlineData("7", "7", 1, 7, 7, 1)]
    [InlineData("5-7,1-3", "1-3,5-7", 6, 1, 7, 1)]
    [InlineData("1-5,3-8", "1-8", 8, 1, 8, 1)]
    [InlineData("0-1000000", "0-1000000", 1_000_001, 0, 1_000_000, 1)]
    public void TaskSet_ParsesSlurmRanges_AndFormatsThemBack(string text, string formatted, long count, int min, int max, int step)
    {
        Assert.True(TaskSet.TryParse(text, out var set, out var error), error);
        Assert.Equal(formatted, set.ToString());
        Assert.Equal(count, set.Count);
        Assert.Equal(min, set.Min);
        Assert.Equal(max, set.Max);
        Assert.Equal(step, set.Step);
    }

    [Theory]
    [InlineData("1-100%4", "1-100", 4)]
    [InlineData("1,3,5-7", "1,3,5-7", null)]
    public void JobArraySpec_ReadsTheLimit_AfterAPercentSign(string text, string tasks, int? limit)
    {
        var spec = JobArraySpec.Parse(text);
        Assert.Equal(tasks, spec.Tasks.ToString());
        Assert.Equal(limit, spec.MaxRunning);
        Assert.Equal(text, spec.ToString());
    }

    [Theory]
    [InlineData("1-0", "ends before it starts")]
    [InlineData("1-10:0", "step")]
    [InlineData("1-10%0", "at least 1")]
    [InlineData("0-10000000", "0 to 1,000,000")]
    [InlineData("", "empty")]
    [InlineData("a-b", "not a range")]
    [InlineData("-1", "not a range")]
    [InlineData("1-10%x", "limit")]
    public void JobArraySpec_RefusesBadInput_WithAReason(string text, string expected)
    {
        Assert.False(JobArraySpec.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void JobSpecBuilder_RefusesTenMillionTasks_NamingTheArrayField()
    {
        var errors = new ValidationErrors();
        var spec = JobSpecBuilder.Build(
            new JobSpecInput { Array = "1-10000001", CurrentWorkingDirectory = "/tmp" },
            "#!/bin/sh\ntrue\n",
            new SubmitDefaults { Account = "alice", Now = Now },
            errors);

        Assert.Null(spec);
        Assert.Contains("array", errors.ToDictionary().Keys);
    }

    [Theory]
    [InlineData("123", 123, null)]
    [InlineData("123_7", 123, "7")]
    [InlineData("123_[1-5]", 123, "1-5")]
    [InlineData("123_[8-100%4]", 123, "8-100")]
    [InlineData(" 42_[1,3] ", 42, "1,3")]
    public void JobRef_ParsesJobsTasksAndRanges(string text, long id, string? tasks)
    {
        Assert.True(JobRef.TryParse(text, out var reference, out var error), error);
        Assert.Equal(new JobId(id), reference.Id);
        Assert.Equal(tasks, reference.Tasks?.ToString());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("abc")]
    [InlineData("123_")]
    [InlineData("123_x")]
    [InlineData("123_1-5")]
    [InlineData("123_[5-1]")]
    public void JobRef_RefusesWhatIsNoJobId(string text) =>
        Assert.False(JobRef.TryParse(text, out _, out _));

    [Fact]
    public void TaskSet_TakeAndExcept_KeepRangesWhole()
    {
        var set = TaskSet.Parse("1-100:3");
        var (taken, left) = set.Take(3);
        Assert.Equal([1, 4, 7], taken);
        Assert.Equal("10-100:3", left.ToString());
        Assert.Equal("10-100:3", set.Except(TaskSet.Parse("1-9")).ToString());
        Assert.Equal("1-4,6-10", TaskSet.Parse("1-10").Except(TaskSet.Of(5)).ToString());
        Assert.Equal("3", TaskSet.Parse("1-3").Take(2).Left.ToString());
        Assert.True(TaskSet.Parse("1-3").Take(5).Left.IsEmpty);
    }

    [Theory]
    [InlineData("1-7", "8-100", "1-100")]
    [InlineData("1,3", "5-99:2", "1-99:2")]
    [InlineData("2", "8-100", "2,8-100")]
    [InlineData("1-5", "3-8", "1-8")]
    public void TaskSet_Union_JoinsRangesThatMeet(string a, string b, string expected) =>
        Assert.Equal(expected, TaskSet.Parse(a).Union(TaskSet.Parse(b)).ToString());

    [Fact]
    public void DisplayId_NamesTasksAndCollapsedArrays_AsSqueueDoes()
    {
        Assert.Equal("123_7", JobArrayIds.Display(new JobId(130), new JobId(123), 7, null, 4));
        Assert.Equal("123_[8-100%4]", JobArrayIds.Display(new JobId(123), new JobId(123), null, TaskSet.Parse("8-100"), 4));
        Assert.Equal("123_[8-100]", JobArrayIds.Display(new JobId(123), new JobId(123), null, TaskSet.Parse("8-100"), null));
        Assert.Equal("5", JobArrayIds.Display(new JobId(5), null, null, null, null));
    }

    [Fact]
    public void Gate_LetsNoMoreTasksStartThanTheLimit_CountingRunningOnes()
    {
        var array = new JobId(10);
        PendingJob Task(long id, bool holder = false) =>
            new(new JobId(id), 0, Now, "batch", 1, 0, false, false, null, null, null, Array: new ArrayMembership(array, holder, 4));
        var snapshot = new SchedulerSnapshot(
            [Task(10, holder: true), Task(11), Task(12), Task(13)],
            [new NodeSnapshot(new NodeName("n1"), 8, 0, ["batch"], NodeState.Up, [])],
            ArrayRunning: new Dictionary<JobId, int> { [array] = 2 });

        var gated = JobArrayGate.Apply(snapshot, Now).Pending;

        Assert.Equal(JobArrayGate.TaskLimit, gated[0].Ineligible);
        Assert.Null(gated[1].Ineligible);
        Assert.Null(gated[2].Ineligible);
        Assert.Equal(JobArrayGate.TaskLimit, gated[3].Ineligible);

        var plan = new BackfillPolicy().Plan(JobArrayGate.Apply(snapshot, Now), Now);
        Assert.Equal([11, 12], plan.Starts.Select(s => s.JobId.Value).Order());
    }

    [Theory]
    [InlineData(1000, null, 0, 0, 8, 8)]
    [InlineData(1000, 4, 2, 1, 8, 2)]
    [InlineData(1000, 4, 4, 0, 8, 0)]
    [InlineData(3, null, 0, 0, 8, 3)]
    [InlineData(1000, null, 5, 5, 8, 3)]
    [InlineData(100_000, null, 0, 0, 100_000, JobArrayGate.MaxSplitPerPass)]
    [InlineData(1000, null, 3, 0, 0, 1)]
    [InlineData(1000, null, 4, 1, 0, 0)]
    [InlineData(1000, 2, 2, 0, 0, 0)]
    public void TasksToSplit_IsBoundedByRoomLimitAndTasksLeft_AndKeepsOneWaitingOnFullNodes(long unstarted, int? max, int active, int splitPending, long free, int expected) =>
        Assert.Equal(expected, JobArrayGate.TasksToSplit(unstarted, max, active, splitPending, free));
}
