using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>What per-user limits read, and the memory bound of list pages, on every backend.</summary>
public abstract partial class StoreContractTests
{
    [StoreFact]
    public async Task UserLoad_NamesEachPendingJobsOwner_AndCountsWhatEachUserHoldsOnTheNodes()
    {
        await RegisterAsync(Node1, cpus: 8);
        var aliceRunning = await SubmitAsync(Spec(cpus: 3) with { User = "alice" });
        var alicePending = await SubmitAsync(Spec() with { User = "alice" });
        var bobPending = await SubmitAsync(Spec(account: "lab") with { User = "bob" });
        var bobHeld = await SubmitAsync(Spec() with { User = "bob", Hold = true });
        await StartAsync(aliceRunning, Node1, [0, 1, 2]);

        var load = await Scheduler.LoadUserLoadAsync(Ct);

        Assert.Equal("alice", load.PendingOwners[alicePending]);
        Assert.Equal("bob", load.PendingOwners[bobPending]);
        Assert.Equal("bob", load.PendingOwners[bobHeld]);
        Assert.False(load.PendingOwners.ContainsKey(aliceRunning));
        Assert.Equal(new Core.Scheduling.UserUsage(1, 3), load.Running["alice"]);
        Assert.False(load.Running.ContainsKey("bob"));
        Assert.Equal(1, await Jobs.CountPendingAsync("alice", Ct));
        Assert.Equal(2, await Jobs.CountPendingAsync("bob", Ct));
        Assert.Equal(0, await Jobs.CountPendingAsync("carol", Ct));
    }

    [StoreFact]
    public async Task List_StopsAPageAtItsMemoryBound_AndTheNextPageGoesOn()
    {
        // Each job carries 1 MiB of environment, a little more than 2 MiB as UTF-16: a page stops at the 8th.
        var environment = Enumerable.Range(0, 4).ToDictionary(i => $"BIG{i}", _ => new string('x', 256 * 1024));
        var ids = new List<JobId>();
        for (var i = 0; i < 12; i++)
        {
            ids.Add(await SubmitAsync(Spec() with { Environment = environment }));
        }

        var query = new JobQuery { Limit = 1000 };
        var first = await Jobs.ListAsync(query, Ct);
        var second = await Jobs.ListAsync(query with { After = first[^1].Id }, Ct);

        Assert.Equal(8, first.Count);
        Assert.True(query.HasMoreAfter(first));
        Assert.Equal(ids, first.Concat(second).Select(j => j.Id));
        Assert.False(query.HasMoreAfter(second));
    }
}
