using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>What the cluster tests ask of a server process over HTTP.</summary>
public static class ClusterApi
{
    /// <summary>A client of the server's API with the admin token.</summary>
    public static HttpClient Client(this ClusterProcess server, string adminToken)
    {
        var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        return client;
    }

    public static async Task WaitForHealthAsync(this ClusterProcess server)
    {
        using var probe = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        await Poll.UntilAsync(async () =>
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"{server.Name} exited: {server.ReadLog()}");
            }

            try
            {
                return (await probe.GetAsync("/api/v1/healthz")).StatusCode == HttpStatusCode.OK;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, ok => ok, TimeSpan.FromSeconds(60), $"{server.Name} to answer /api/v1/healthz");
    }

    /// <summary>The server's scheduler role: "leader", "standby", or "unreachable" when it does not answer.</summary>
    public static async Task<string> RoleAsync(this ClusterProcess server)
    {
        using var probe = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return (await probe.GetFromJsonAsync<JsonNode>("/api/v1/healthz"))!["scheduler"]!.GetValue<string>();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return "unreachable";
        }
    }

    public static async Task<JsonNode> GetJobAsync(this HttpClient client, string id)
    {
        var response = await client.GetAsync($"/api/v1/jobs/{id}");
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    public static Task<JsonNode> WaitForStateAsync(this HttpClient client, string id, TimeSpan timeout, params string[] states) =>
        Poll.UntilAsync(() => client.GetJobAsync(id), j => states.Contains(j["state"]!.GetValue<string>()), timeout,
            $"job {id} to reach {string.Join(" or ", states)}");
}
