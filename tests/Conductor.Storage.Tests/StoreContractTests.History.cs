using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>The contract of the history of ended jobs and of the cluster's per-minute samples.</summary>
public abstract partial class StoreContractTests
{
    protected IHistoryStore History => (IHistoryStore)Store.Jobs;

    /// <summary>A job that ran from <paramref name="start"/> for <paramref name="seconds"/> and ended in <paramref name="state"/>.</summary>
    private async Task<JobId> EndedJobAsync(
        DateTimeOffset start, double seconds, JobState state = JobState.Completed, JobSpec? spec = null, double? cpuSeconds = null, long? rssKiB = null, int cpus = 1, DateTimeOffset? submit = null)
    {
        var id = await SubmitAsync(spec ?? Spec(cpus: cpus), submit ?? start.AddSeconds(-10));
        await StartAsync(id, Node1, Enumerable.Range(0, cpus).ToArray(), now: start);
        var exit = state == JobState.Completed ? ExitCode.Success : ExitCode.Exited(1);
        var outcome = await Agent.FinishAsync(new JobCompletion(id, 1, state, exit, null, start.AddSeconds(seconds), cpuSeconds, rssKiB), Ct);
        Assert.Equal(FinishOutcome.Finished, outcome);
        return id;
    }

    private async Task<List<JobId>> AllPagesAsync(HistoryQuery query)
    {
        var ids = new List<JobId>();
        for (var pages = 0; pages < 100; pages++)
        {
            var page = await History.ListHistoryAsync(query, Ct);
            ids.AddRange(page.Jobs.Select(j => j.Id));
            if (page.Next is null)
            {
                return ids;
            }

            query = query with { After = page.Next };
        }

        throw new InvalidOperationException("The history did not end.");
    }

    [StoreFact]
    public async Task ListHistoryAsync_PagesThroughEveryEndedJob_LatestFirst_WithTiesByIdAndNothingTwice()
    {
        await RegisterAsync(Node1, cpus: 64);
        var expected = new List<(DateTimeOffset End, JobId Id)>();
        for (var i = 0; i < 17; i++)
        {
            // Every third job ends at the same moment as the one before it.
            var end = T0.AddSeconds(100 + (i - (i % 3 == 2 ? 1 : 0)));
            var id = await EndedJobAsync(end.AddSeconds(-5), 5);
            expected.Add((end, id));
        }

        await SubmitAsync(); // pending: not history
        var running = await SubmitAsync();
        await StartAsync(running, Node1, [63]);

        var latestFirst = expected.OrderByDescending(e => e.End).ThenByDescending(e => e.Id.Value).Select(e => e.Id).ToList();
        Assert.Equal(latestFirst, await AllPagesAsync(new HistoryQuery { Limit = 4 }));
        Assert.Equal(Enumerable.Reverse(latestFirst).ToList(), await AllPagesAsync(new HistoryQuery { Limit = 5, Ascending = true }));
    }

    [StoreFact]
    public async Task ListHistoryAsync_Filters_ByStateAccountPartitionNameAndEndTime()
    {
        await RegisterAsync(Node1, cpus: 64);
        var match = await EndedJobAsync(T0.AddMinutes(10), 60, JobState.Failed, Spec(name: "Train_Model-3", account: "bob", partition: "batch"));
        await EndedJobAsync(T0.AddMinutes(10), 60, JobState.Completed, Spec(name: "train_model-4", account: "bob"));
        await EndedJobAsync(T0.AddMinutes(10), 60, JobState.Failed, Spec(name: "train_model-5", account: "carol"));
        await EndedJobAsync(T0.AddMinutes(30), 60, JobState.Failed, Spec(name: "train_model-6", account: "bob"));
        await EndedJobAsync(T0.AddMinutes(10), 60, JobState.Failed, Spec(name: "trainXmodel", account: "bob"));

        var query = new HistoryQuery
        {
            States = [JobState.Failed, JobState.Timeout],
            Account = "bob",
            Partition = "batch",
            Name = "TRAIN_model", // any case; the underscore is a character, not a wildcard
            EndedFrom = T0.AddMinutes(11),
            EndedTo = T0.AddMinutes(20),
        };
        Assert.Equal([match], (await History.ListHistoryAsync(query, Ct)).Jobs.Select(j => j.Id));
        Assert.Empty((await History.ListHistoryAsync(query with { Partition = "gpu" }, Ct)).Jobs);
        Assert.Empty((await History.ListHistoryAsync(query with { Name = "100%" }, Ct)).Jobs);
        Assert.Equal(2, (await History.ListHistoryAsync(query with { EndedTo = null }, Ct)).Jobs.Count);
    }

    [StoreFact]
    public async Task ListHistoryAsync_SortsByCpuEfficiency_OverTheCpusHeld_WithUnknownsLast()
    {
        await RegisterAsync(Node1, cpus: 64);
        var half = await EndedJobAsync(T0, 10, cpuSeconds: 10, cpus: 2);       // 10 s of 2 × 10 s: 50 %
        var full = await EndedJobAsync(T0, 10, cpuSeconds: 10);                // 100 %
        var tenth = await EndedJobAsync(T0, 100, cpuSeconds: 10);              // 10 %
        var unknown = await EndedJobAsync(T0, 10);                             // no usage
        var alsoHalf = await EndedJobAsync(T0, 20, cpuSeconds: 10);            // 50 %, a tie broken by id

        Assert.Equal([full, alsoHalf, half, tenth, unknown], await AllPagesAsync(new HistoryQuery { Sort = HistorySort.CpuEfficiency, Limit = 2 }));
        Assert.Equal([unknown, tenth, half, alsoHalf, full], await AllPagesAsync(new HistoryQuery { Sort = HistorySort.CpuEfficiency, Ascending = true, Limit = 3 }));

        var first = await History.ListHistoryAsync(new HistoryQuery { Sort = HistorySort.CpuEfficiency, Limit = 1 }, Ct);
        Assert.Equal(1.0, first.Next!.Value.Key, 9);
    }

    [StoreFact]
    public async Task ListHistoryAsync_SortsByMemoryEfficiency_OverTheMemoryReserved()
    {
        await RegisterAsync(Node1, cpus: 64);
        var small = await EndedJobAsync(T0, 10, spec: Spec() with { MemoryMiB = 1000 }, rssKiB: 100 * 1024);
        var big = await EndedJobAsync(T0, 10, spec: Spec() with { MemoryMiB = 100 }, rssKiB: 90 * 1024);
        var none = await EndedJobAsync(T0, 10, rssKiB: 90 * 1024);

        Assert.Equal([big, small, none], await AllPagesAsync(new HistoryQuery { Sort = HistorySort.MemoryEfficiency, Limit = 2 }));
    }

    [StoreFact]
    public async Task GetActivityAsync_CountsStartsAndEndsInTheSpan_AndTheMedianWait()
    {
        await RegisterAsync(Node1, cpus: 64);
        var minute = T0.AddMinutes(5);
        await EndedJobAsync(minute.AddSeconds(1), 600, submit: minute.AddSeconds(-9));    // waited 10 s
        await EndedJobAsync(minute.AddSeconds(2), 600, submit: minute.AddSeconds(-28));   // 30 s
        await EndedJobAsync(minute.AddSeconds(3), 600, submit: minute.AddSeconds(-997));  // 1000 s
        await EndedJobAsync(minute.AddSeconds(4), 600, submit: minute.AddSeconds(-36));   // 40 s
        await EndedJobAsync(minute.AddSeconds(-100), 130);                               // ends in the minute
        await EndedJobAsync(minute.AddSeconds(-100), 30);                                // before it

        var activity = await History.GetActivityAsync(minute, minute.AddMinutes(1), Ct);
        Assert.Equal(4, activity.Started);
        Assert.Equal(1, activity.Finished);
        Assert.Equal(35, activity.MedianWaitSeconds!.Value, 3);

        var quiet = await History.GetActivityAsync(T0.AddHours(5), T0.AddHours(5).AddMinutes(1), Ct);
        Assert.Equal(new JobActivity(0, 0, null), quiet);
    }

    [StoreFact]
    public async Task Samples_AreReplacedPerMinute_ListedInOrder_AndPurgedByAge()
    {
        ClusterSample At(int minute, int allocated) =>
            new(T0.AddMinutes(minute), 8, allocated, minute == 2 ? 4 : null, minute == 2 ? 1 : null, 3, 1, 2, 1, minute == 1 ? null : 12.5);

        await History.SaveSampleAsync(At(2, 5), Ct);
        await History.SaveSampleAsync(At(0, 1), Ct);
        await History.SaveSampleAsync(At(1, 2), Ct);
        await History.SaveSampleAsync(At(1, 3), Ct);

        Assert.Equal([At(0, 1), At(1, 3), At(2, 5)], await History.ListSamplesAsync(T0, T0.AddMinutes(3), Ct));
        Assert.Equal([At(1, 3)], await History.ListSamplesAsync(T0.AddMinutes(1), T0.AddMinutes(2), Ct));
        Assert.Equal(2, await History.PurgeSamplesAsync(T0.AddMinutes(2), Ct));
        Assert.Equal([At(2, 5)], await History.ListSamplesAsync(T0, T0.AddHours(1), Ct));
    }
}
