using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Storage.Tests;

/// <summary>Several submits in one transaction (the server's group commit), on every backend.</summary>
public abstract partial class StoreContractTests
{
    [StoreFact]
    public async Task SubmitManyAsync_InsertsEveryJobAsASubmitDoes_InTheOrderGiven()
    {
        var target = await SubmitAsync();
        var dependency = Dependencies.TryParse($"afterok:{target}", out var parsed, out _) ? parsed : null;
        var jobs = new[]
        {
            new NewJob(Spec("first"), "#!/bin/sh\necho 1\n", T0),
            new NewJob(Spec("second", account: "bob"), "#!/bin/sh\necho 1b\n", T0),
            new NewJob(Spec("array") with { Array = JobArraySpec.Parse("1-3") }, "#!/bin/sh\necho 2\n", T0.AddSeconds(1)),
            new NewJob(Spec("after") with { Dependency = dependency }, "#!/bin/sh\necho 3\n", T0.AddSeconds(2)),
            new NewJob(Spec("last", cpus: 2), "#!/bin/sh\necho 4\n", T0.AddSeconds(3)),
        };

        var ids = await Jobs.SubmitManyAsync(jobs, Ct);

        Assert.Equal(5, ids.Count);
        Assert.Equal(ids.Order(), ids);
        Assert.True(ids[0].Value > target.Value);
        Assert.Equal(5, ids.Distinct().Count());
        for (var i = 0; i < jobs.Length; i++)
        {
            var job = await GetAsync(ids[i]);
            Assert.Equal(jobs[i].Spec.Name, job.Spec.Name);
            Assert.Equal(jobs[i].Spec.CpusPerTask, job.Spec.CpusPerTask);
            Assert.Equal(jobs[i].Spec.Account, job.Spec.Account);
            Assert.Equal(JobState.Pending, job.State);
            Assert.Equal(jobs[i].SubmitTime, job.SubmitTime);
            var submitted = Assert.Single(await Jobs.GetEventsAsync(ids[i], Ct));
            Assert.Equal(JobEventKind.Submitted, submitted.Kind);
            Assert.Equal(jobs[i].SubmitTime, submitted.Time);
        }

        Assert.Equal(ids[2], (await GetAsync(ids[2])).ArrayJobId);
        Assert.Equal(3, (await GetAsync(ids[2])).ArrayPendingTasks!.Count);
        Assert.Null((await GetAsync(ids[0])).ArrayJobId);
        Assert.Equal($"afterok:{target}", (await GetAsync(ids[3])).Spec.Dependency!.ToString());

        // Each job's own script reaches the agent.
        await RegisterAsync(Node1);
        await StartAsync(ids[4], Node1, [0, 1]);
        Assert.Equal("#!/bin/sh\necho 4\n", Assert.Single(await Agent.GetDispatchesAsync(Node1, Ct)).Script);
    }

    [StoreFact]
    public async Task SubmitManyAsync_InsertsNothing_WhenOneJobIsRefused()
    {
        var jobs = new[]
        {
            new NewJob(Spec("good"), "#!/bin/sh\ntrue\n", T0),
            new NewJob(Spec() with { Name = null! }, "#!/bin/sh\ntrue\n", T0),
            new NewJob(Spec("also good"), "#!/bin/sh\ntrue\n", T0),
        };

        await Assert.ThrowsAnyAsync<Exception>(() => Jobs.SubmitManyAsync(jobs, Ct));

        Assert.Empty(await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct));
        var next = await SubmitAsync();
        Assert.Single(await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct));
        Assert.Equal(next, (await GetAsync(next)).Id);
    }

    [StoreFact]
    public async Task SubmitManyAsync_ReturnsNothing_WhenGivenNothing()
    {
        Assert.Empty(await Jobs.SubmitManyAsync([], Ct));
        Assert.Empty(await Jobs.ListAsync(new JobQuery { Limit = 1000 }, Ct));
    }
}
