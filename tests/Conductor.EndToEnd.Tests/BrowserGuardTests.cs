using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>A web page cannot drive a --no-auth server through a visitor's browser; programs still can.</summary>
public sealed class BrowserGuardTests : IAsyncLifetime
{
    private ServerProcess _server = null!;

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync("--no-auth", "--cpus", "1");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string Body(string marker) =>
        new JsonObject
        {
            ["job"] = new JsonObject { ["current_working_directory"] = _server.WorkDirectory, ["name"] = marker },
            ["script"] = "#!/bin/bash\ntouch " + Path.Combine(_server.WorkDirectory, marker) + "\n",
        }.ToJsonString();

    [Fact]
    public async Task CrossOriginTextPlainPost_UnderNoAuth_RunsNothing()
    {
        using var client = _server.CreateClient(authenticated: false);
        using var drive = new HttpRequestMessage(HttpMethod.Post, "/jobs/submit") { Content = new StringContent(Body("drive-by"), Encoding.UTF8, "text/plain") };
        drive.Headers.Add("Origin", "http://evil.example");
        using var plain = new HttpRequestMessage(HttpMethod.Post, "/api/v1/jobs") { Content = new StringContent(Body("plain"), Encoding.UTF8, "text/plain") };
        using var json = new HttpRequestMessage(HttpMethod.Post, "/api/v1/jobs") { Content = new StringContent(Body("json"), Encoding.UTF8, "application/json") };
        json.Headers.Add("Origin", "http://evil.example");
        using var rebound = new HttpRequestMessage(HttpMethod.Post, "/api/v1/jobs") { Content = new StringContent(Body("rebound"), Encoding.UTF8, "application/json") };
        rebound.Headers.Host = "evil.example";

        var answers = new[] { await client.SendAsync(drive), await client.SendAsync(plain), await client.SendAsync(json), await client.SendAsync(rebound) };

        Assert.Equal(
            [HttpStatusCode.Forbidden, HttpStatusCode.UnsupportedMediaType, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden],
            answers.Select(a => a.StatusCode));
        var jobs = JsonNode.Parse(await client.GetStringAsync("/api/v1/jobs?limit=100"))!["jobs"]!.AsArray();
        Assert.Empty(jobs);
    }

    [Fact]
    public async Task ProgramsAndTheServersOwnPage_StillSubmitAndCancel_UnderNoAuth()
    {
        using var client = _server.CreateClient(authenticated: false);
        var submitted = await client.PostAsync("/api/v1/jobs", new StringContent(Body("program"), Encoding.UTF8, "application/json"));
        var id = JsonNode.Parse(await submitted.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>();
        using var cancel = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/jobs/{id}/cancel") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        cancel.Headers.Add("Origin", _server.BaseAddress.GetLeftPart(UriPartial.Authority));
        using var foreignCancel = new HttpRequestMessage(HttpMethod.Post, $"/jobs/cancel/{id}");
        foreignCancel.Headers.Add("Origin", "http://evil.example");

        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(foreignCancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/jobs/cancel/{id}", null)).StatusCode);
    }
}
