using System.Net;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>GET /api/v1/events: Server-Sent Events from a real server.</summary>
[Collection("server")]
public sealed class LiveEventsTests(ServerFixture fixture)
{
    [Fact]
    public async Task Events_SayChanged_WhenAJobIsSubmitted_AndFollowAJobsOutputToItsEnd()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var client = fixture.Server.CreateClient();
        client.Timeout = Timeout.InfiniteTimeSpan;
        using var response = await client.GetAsync("/api/v1/events", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        Assert.Equal("hello", (await NextEventAsync(reader, cts.Token)).Name);

        var id = await fixture.SubmitAsync("#!/bin/bash\necho one\necho two\n");
        Assert.Equal("changed", (await NextEventAsync(reader, cts.Token)).Name);
        await fixture.WaitForStateAsync(id, TimeSpan.FromSeconds(30), "COMPLETED");

        using var follow = await client.GetAsync($"/api/v1/events?job={id}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var output = new StreamReader(await follow.Content.ReadAsStreamAsync(cts.Token));
        var text = "";
        while (true)
        {
            var e = await NextEventAsync(output, cts.Token);
            if (e.Name == "output")
            {
                var chunk = JsonNode.Parse(e.Data)!;
                Assert.Equal(text.Length, chunk["offset"]!.GetValue<long>());
                text += chunk["data"]!.GetValue<string>();
            }
            else if (e.Name == "output_end")
            {
                Assert.Equal("COMPLETED", JsonNode.Parse(e.Data)!["state"]!.GetValue<string>());
                break;
            }
        }

        Assert.Equal("one\ntwo\n", text);
    }

    [Fact]
    public async Task Events_WantAToken_AndAJobTheCallerMaySee()
    {
        using var anonymous = fixture.Server.CreateClient(authenticated: false);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/events", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Client.GetAsync("/api/v1/events?job=987654", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await fixture.Client.GetAsync("/api/v1/events?job=x", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
    }

    private static async Task<(string Name, string Data)> NextEventAsync(StreamReader reader, CancellationToken ct)
    {
        string? name = null;
        var data = "";
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (name is not null)
                {
                    return (name, data);
                }

                continue;
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }

        throw new EndOfStreamException("The event stream ended.");
    }
}
