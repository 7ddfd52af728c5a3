using System.Net;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>GET /api/v1/charts over a real server.</summary>
[Collection("server")]
public sealed class ChartsApiTests(ServerFixture fixture)
{
    [Fact]
    public async Task Charts_GiveAnHourOfMinutes_EndingWithTheMinuteUnderWay()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n");
        await fixture.WaitForStateAsync(id, TimeSpan.FromSeconds(30), "COMPLETED");

        var charts = JsonNode.Parse(await fixture.Client.GetStringAsync("/api/v1/charts"))!;
        Assert.Equal("hour", charts["range"]!.GetValue<string>());
        var time = charts["time"]!.AsArray();
        Assert.Equal(60, time.Count);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.InRange(now - time[^1]!.GetValue<long>(), 0, 61);
        Assert.Equal(2, charts["cpus_total"]!.AsArray()[^1]!.GetValue<double>());
        Assert.Null(charts["gpus_total"]);
        var week = JsonNode.Parse(await fixture.Client.GetStringAsync("/api/v1/charts?range=week"))!;
        Assert.Equal(1008, week["time"]!.AsArray().Count);
    }

    [Fact]
    public async Task Charts_RefuseAnUnknownRange_WithTheField()
    {
        var response = await fixture.Client.GetAsync("/api/v1/charts?range=year");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]!["range"]);
    }
}
