using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>Who may hold, release and depend on what, on a root server with two real users and the admin.</summary>
public sealed class HoldPermissionTests(MultiUserFixture fixture) : IClassFixture<MultiUserFixture>
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private async Task<string> SubmitLaterAsync(HttpClient client, string user, JsonObject? extra = null)
    {
        var job = new JsonObject { ["current_working_directory"] = fixture.Users.Home(user), ["begin"] = "now+1hour" };
        foreach (var (key, value) in extra ?? [])
        {
            job[key] = value?.DeepClone();
        }

        return await MultiUserFixture.SubmitAsync(client, "#!/bin/bash\ntrue\n", job);
    }

    private static async Task<JsonNode> JobAsync(HttpClient client, string id) =>
        JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!;

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string path) => client.PostAsync(path, null);

    [Fact]
    public async Task UserHold_IsReleasedByItsOwner_AdminHold_OnlyByTheAdmin()
    {
        using var alice = fixture.Alice();
        using var bob = fixture.Bob();
        using var admin = fixture.Admin();
        var id = await SubmitLaterAsync(alice, fixture.Users.Alice, new JsonObject { ["hold"] = true });
        await Poll.UntilAsync(() => JobAsync(alice, id), j => j["reason"]?.GetValue<string>() == "JobHeldUser", Soon, "the user's hold");
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(bob, $"/api/v1/jobs/{id}/release")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(alice, $"/api/v1/jobs/{id}/release")).StatusCode);

        // The admin holding another user's job puts the admin's hold; its owner can neither release nor change it.
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(admin, $"/api/v1/jobs/{id}/hold")).StatusCode);
        Assert.Equal("JobHeldAdmin", (await JobAsync(alice, id))["reason"]!.GetValue<string>());
        var refused = await PostAsync(alice, $"/api/v1/jobs/{id}/release");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("only the admin may release", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(alice, $"/api/v1/jobs/{id}/hold")).StatusCode);
        Assert.True((await JobAsync(alice, id))["detail"]!["hold"]!.GetValue<bool>());

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(admin, $"/api/v1/jobs/{id}/release")).StatusCode);
        Assert.False((await JobAsync(alice, id))["detail"]!["hold"]!.GetValue<bool>());

        // Only the admin may ask for the admin's hold; the admin may ask for a user's hold (scontrol uhold).
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(alice, $"/api/v1/jobs/{id}/hold?admin=true")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(admin, $"/api/v1/jobs/{id}/hold?admin=false")).StatusCode);
        Assert.Equal("JobHeldUser", (await JobAsync(alice, id))["reason"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(alice, $"/api/v1/jobs/{id}/release")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(alice, $"/api/v1/jobs/{id}/cancel")).StatusCode);
    }

    [Fact]
    public async Task Dependency_OnAnotherUsersJob_IsRefused_ExceptForTheAdmin()
    {
        using var alice = fixture.Alice();
        using var bob = fixture.Bob();
        using var admin = fixture.Admin();
        var bobs = await SubmitLaterAsync(bob, fixture.Users.Bob);

        var response = await MultiUserFixture.PostJobAsync(alice, "#!/bin/bash\ntrue\n", new JsonObject
        {
            ["current_working_directory"] = fixture.Users.Home(fixture.Users.Alice),
            ["dependency"] = $"afterok:{bobs}",
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Contains("does not exist or is not yours", problem["errors"]!["job.dependency"]![0]!.GetValue<string>(), StringComparison.Ordinal);

        var admins = await SubmitLaterAsync(admin, fixture.Users.Bob, new JsonObject { ["dependency"] = $"afterany:{bobs}" });
        Assert.Equal($"afterany:{bobs}(unfulfilled)", (await JobAsync(admin, admins))["detail"]!["dependency"]!.GetValue<string>());
        foreach (var id in new[] { admins, bobs })
        {
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(admin, $"/api/v1/jobs/{id}/cancel")).StatusCode);
        }
    }
}
