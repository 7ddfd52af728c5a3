using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>What only the admin may do to jobs and nodes, on the root server of real users.</summary>
public sealed class MultiUserControlTests(MultiUserFixture fixture) : IClassFixture<MultiUserFixture>
{
    [Fact]
    public async Task RunningJobsTimeLimit_IsLoweredByItsOwner_RaisedOnlyByTheAdmin_AndNodesAreTheAdmins()
    {
        using var alice = fixture.Alice();
        using var bob = fixture.Bob();
        using var admin = fixture.Admin();
        var id = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\nsleep 60\n",
            new JsonObject { ["current_working_directory"] = fixture.Users.Home(fixture.Users.Alice), ["time_limit"] = "5" });
        await Poll.UntilAsync(
            async () => JsonNode.Parse(await alice.GetStringAsync($"/api/v1/jobs/{id}"))!["state"]!.GetValue<string>(),
            s => s == "RUNNING", TimeSpan.FromSeconds(30), "alice's job to run");

        var raised = await alice.PostAsJsonAsync($"/api/v1/jobs/{id}/update", new { time_limit = "10" });
        var lowered = await alice.PostAsJsonAsync($"/api/v1/jobs/{id}/update", new { time_limit = "4" });
        var byBob = await bob.PostAsJsonAsync($"/api/v1/jobs/{id}/update", new { time_limit = "1" });
        var byAdmin = await admin.PostAsJsonAsync($"/api/v1/jobs/{id}/update", new { time_limit = "20" });

        Assert.Equal(HttpStatusCode.BadRequest, raised.StatusCode);
        Assert.Contains("may only be lowered", JsonNode.Parse(await raised.Content.ReadAsStringAsync())!["errors"]!["time_limit"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, lowered.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, byBob.StatusCode);
        Assert.Equal(HttpStatusCode.OK, byAdmin.StatusCode);
        var job = JsonNode.Parse(await alice.GetStringAsync($"/api/v1/jobs/{id}"))!;
        Assert.Equal("0:20:00", job["time"]!["limit"]!.GetValue<string>());

        var node = JsonNode.Parse(await alice.GetStringAsync("/api/v1/nodes"))!.AsArray()[0]!["name"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.PostAsJsonAsync($"/api/v1/nodes/{node}/drain", new { reason = "mine" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.PostAsync($"/api/v1/nodes/{node}/resume", null)).StatusCode);
        await alice.PostAsync($"/api/v1/jobs/{id}/cancel", null);

        var held = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\ntrue\n",
            new JsonObject { ["current_working_directory"] = fixture.Users.Home(fixture.Users.Alice), ["hold"] = true });
        var nice = await alice.PostAsJsonAsync($"/api/v1/jobs/{held}/update", new { nice = -5 });
        Assert.Equal(HttpStatusCode.BadRequest, nice.StatusCode);
        Assert.Contains("admin", JsonNode.Parse(await nice.Content.ReadAsStringAsync())!["errors"]!["nice"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsJsonAsync($"/api/v1/jobs/{held}/update", new { nice = -5 })).StatusCode);
        await alice.PostAsync($"/api/v1/jobs/{held}/cancel", null);
    }
}
