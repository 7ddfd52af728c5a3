using System.Net;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>GET /api/v1/history over a real server: filters, keyset pages, sort by efficiency, field-level errors.</summary>
[Collection("server")]
public sealed class HistoryApiTests(ServerFixture fixture)
{
    [Fact]
    public async Task History_FiltersAndPages_EndedJobsOnly()
    {
        var tag = "hist-" + Guid.NewGuid().ToString("N")[..6];
        var ok = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ok.Add(await fixture.SubmitAsync("#!/bin/bash\ntrue\n", new { name = $"{tag}-ok" }));
        }

        var failed = await fixture.SubmitAsync("#!/bin/bash\nexit 3\n", new { name = $"{tag}-bad" });
        var held = await fixture.SubmitAsync("#!/bin/bash\ntrue\n", new { name = $"{tag}-held", hold = true });
        foreach (var id in ok.Append(failed))
        {
            await fixture.WaitForStateAsync(id, TimeSpan.FromSeconds(30), "COMPLETED", "FAILED");
        }

        var all = await PagesAsync($"name={tag.ToUpperInvariant()}&limit=2");
        Assert.Equal(4, all.Count);
        Assert.DoesNotContain(held, all.Select(j => j["job_id"]!.GetValue<string>()));
        var ends = all.Select(j => j["time"]!["end"]!.GetValue<DateTimeOffset>()).ToList();
        Assert.Equal(ends.OrderByDescending(e => e), ends);
        Assert.All(all, j => Assert.NotNull(j["time"]!["wait_seconds"]));

        var onlyFailed = await PagesAsync($"name={tag}&state=FAILED");
        Assert.Equal(failed, Assert.Single(onlyFailed)["job_id"]!.GetValue<string>());
        Assert.Equal("3:0", onlyFailed[0]["exit_code"]!.GetValue<string>());

        var future = DateTimeOffset.UtcNow.AddHours(1).ToString("O");
        Assert.Empty(await PagesAsync($"name={tag}&from={Uri.EscapeDataString(future)}"));
        Assert.Equal(4, (await PagesAsync($"name={tag}&sort=cpu_efficiency&limit=1")).Count);
        Assert.Equal(4, (await PagesAsync($"name={tag}&sort=memory_efficiency&order=asc&limit=3")).Count);
    }

    [Fact]
    public async Task History_AnswersFieldErrors_ForBadParameters()
    {
        var response = await fixture.Client.GetAsync("/api/v1/history?state=RUNNING&from=yesterday&sort=speed&order=up&limit=0&after=xyz");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]!.AsObject();
        Assert.Equal(["after", "from", "limit", "order", "sort", "state"], errors.Select(e => e.Key).Order());
    }

    private async Task<List<JsonNode>> PagesAsync(string query)
    {
        var jobs = new List<JsonNode>();
        string? after = null;
        do
        {
            var page = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/history?{query}" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after))))!;
            jobs.AddRange(page["jobs"]!.AsArray().Select(j => j!));
            after = page["next_after"]?.GetValue<string>();
        }
        while (after is not null && jobs.Count < 100);
        return jobs;
    }
}
