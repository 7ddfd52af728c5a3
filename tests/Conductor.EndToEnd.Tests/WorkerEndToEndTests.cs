using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>The worker's guarantees as a user of the API sees them.</summary>
[Collection("server")]
public sealed class WorkerEndToEndTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Events_OfACompletedJob_ListEveryStageInOrderWithTimes()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n");
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");

        var events = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray();
        var stages = events.Where(e => e!["kind"]!.GetValue<string>() == "stage").ToList();
        Assert.Equal(
            ["Initialized", "Loaded", "ResourcesAllocated", "Prepared", "Running", "Completed", "CleanedUp"],
            stages.Select(e => e!["detail"]!.GetValue<string>()));
        var times = stages.Select(e => e!["time"]!.GetValue<DateTimeOffset>()).ToList();
        Assert.Equal(times.Order(), times);
    }

    [Fact]
    public async Task MemoryLimit_EndsAJobThatTakesTwoGigabytes_OutOfMemory_WithItsMaxRss()
    {
        var started = DateTime.UtcNow;
        var greedy = await fixture.SubmitAsync("#!/bin/bash\nhead -c 2000M /dev/zero | tail\n", new { memory_per_node = "256M" });
        var modest = await fixture.SubmitAsync("#!/bin/bash\nhead -c 20M /dev/zero | tail\necho fine\n", new { memory_per_node = "256M" });

        var job = await fixture.WaitForStateAsync(greedy, Soon, "OUT_OF_MEMORY", "FAILED", "COMPLETED");
        Assert.Equal("OUT_OF_MEMORY", job["state"]!.GetValue<string>());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
        Assert.True(job["usage"]!["max_rss_kib"]!.GetValue<long>() > 100 * 1024, job.ToJsonString());
        Assert.Contains("memory limit", job["error_msg"]!.GetValue<string>(), StringComparison.Ordinal);

        var fine = await fixture.WaitForStateAsync(modest, Soon, "COMPLETED", "FAILED", "OUT_OF_MEMORY");
        Assert.Equal("COMPLETED", fine["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Pinning_TwoOneCpuJobsSeeDisjointCpus_AndATwoCpuJobSeesBoth()
    {
        const string Script = "#!/bin/bash\ngrep Cpus_allowed_list /proc/self/status | cut -f2\nsleep 1\n";
        var first = await fixture.SubmitAsync(Script);
        var second = await fixture.SubmitAsync(Script);
        var a = await OutputAsync(first);
        var b = await OutputAsync(second);
        Assert.NotEqual(a, b);
        Assert.DoesNotContain(',', a);
        Assert.DoesNotContain('-', a);

        var both = await OutputAsync(await fixture.SubmitAsync(Script, new { cpus_per_task = 2 }));
        var cpus = both.Split([',', '-']).Order().ToList();
        Assert.Equal(new[] { a, b }.Order(), cpus);
    }

    [Fact]
    public async Task Metrics_IncludeTheAgentsJobMeasurements()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n");
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");

        var text = await Poll.UntilAsync(() => fixture.Client.GetStringAsync("/metrics"),
            t => t.Contains("conductor_agent_job_run_seconds", StringComparison.Ordinal), Soon, "the agent's metrics");
        Assert.Contains("conductor_agent_jobs_finished", text, StringComparison.Ordinal);
    }

    private async Task<string> OutputAsync(string id)
    {
        var job = await fixture.WaitForStateAsync(id, Soon, "COMPLETED", "FAILED");
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        return (await fixture.GetJobAsync(id, logs: true))["log"]!["stdout"]!.GetValue<string>().Trim();
    }
}
