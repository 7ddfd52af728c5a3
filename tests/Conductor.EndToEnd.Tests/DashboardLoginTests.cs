using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>The dashboard's log-in: the link of <c>conductor dashboard</c>, the session cookie, its guard and log-out.</summary>
[Collection("server")]
public sealed class DashboardLoginTests(ServerFixture fixture)
{
    private const string Guard = "X-Conductor-Request";

    [Fact]
    public async Task DashboardLink_LogsInOnce_AsTheCliAccount_AndLogOutEndsTheSession()
    {
        var cli = new Cli(fixture.Server, fixture.NewWorkDir());
        var printed = await cli.RunAsync("dashboard");
        Assert.True(printed.Code == 0, printed.ToString());
        var url = new Uri(printed.Stdout.Trim());
        Assert.Equal(fixture.Server.BaseAddress.Authority, url.Authority);
        Assert.StartsWith("#login=", url.Fragment, StringComparison.Ordinal);
        var code = url.Fragment["#login=".Length..];

        using var browser = NewBrowser(out var cookies);
        var login = await PostSessionAsync(browser, new { code });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var session = JsonNode.Parse(await login.Content.ReadAsStringAsync())!;
        Assert.True(session["admin"]!.GetValue<bool>());
        var expires = session["expires"]!.GetValue<DateTimeOffset>();
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromHours(7), TimeSpan.FromHours(8.1));
        var cookie = Assert.Single(cookies.GetCookies(fixture.Server.BaseAddress));
        Assert.True(cookie.HttpOnly);
        var header = string.Join(";", login.Headers.GetValues("Set-Cookie"));
        Assert.Contains("samesite=strict", header, StringComparison.OrdinalIgnoreCase);

        // The cookie reads like the token it came from.
        var whoami = JsonNode.Parse(await browser.GetStringAsync("/api/v1/whoami"))!;
        Assert.True(whoami["admin"]!.GetValue<bool>());

        // The code works once.
        using var other = NewBrowser(out _);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostSessionAsync(other, new { code })).StatusCode);

        // A session may not mint codes for itself (it would outlive its lifetime).
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(browser, HttpMethod.Post, "/api/v1/auth/login-codes", guard: true)).StatusCode);

        using var logout = await SendAsync(browser, HttpMethod.Delete, "/api/v1/auth/session", guard: true);
        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        browser.DefaultRequestHeaders.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/v1/whoami")).StatusCode);

        // Neither the code nor the token reaches the server's log.
        var log = fixture.Server.ReadLog();
        Assert.DoesNotContain(code, log, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.Token, log, StringComparison.Ordinal);
        Assert.DoesNotContain(cookie.Value, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SessionRequests_ThatChangeSomething_NeedTheGuardHeader_AndTheServersOrigin()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\nsleep 600\n", new { hold = true });
        using var browser = NewBrowser(out _);
        using var pasted = await SendAsync(browser, HttpMethod.Post, "/api/v1/auth/session", guard: true, bearer: fixture.Server.Token, body: new { });
        Assert.Equal(HttpStatusCode.OK, pasted.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync($"/api/v1/jobs/{id}")).StatusCode);
        using (var bare = await SendAsync(browser, HttpMethod.Post, $"/api/v1/jobs/{id}/cancel", guard: false))
        {
            Assert.Equal(HttpStatusCode.Forbidden, bare.StatusCode);
            Assert.Contains(Guard, await bare.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var foreign = await SendAsync(browser, HttpMethod.Post, $"/api/v1/jobs/{id}/cancel", guard: true, origin: "http://elsewhere.example"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        }

        Assert.Equal("PENDING", (await fixture.GetJobAsync(id))["state"]!.GetValue<string>());
        using var allowed = await SendAsync(browser, HttpMethod.Post, $"/api/v1/jobs/{id}/cancel", guard: true, origin: fixture.Server.BaseAddress.GetLeftPart(UriPartial.Authority));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);

        // A login from another site (a forged form posting the attacker's code) is refused too.
        using var stranger = NewBrowser(out _);
        using var forged = await stranger.PostAsJsonAsync("/api/v1/auth/session", new { code = "anything" });
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);

        // A bad token is no session.
        using var wrong = await SendAsync(NewBrowser(out _), HttpMethod.Post, "/api/v1/auth/session", guard: true, bearer: "not-the-token-at-all", body: new { });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
    }

    private HttpClient NewBrowser(out CookieContainer cookies)
    {
        cookies = new CookieContainer();
        return new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = fixture.Server.BaseAddress };
    }

    private static Task<HttpResponseMessage> PostSessionAsync(HttpClient client, object body) =>
        SendAsync(client, HttpMethod.Post, "/api/v1/auth/session", guard: true, body: body);

    private static async Task<HttpResponseMessage> SendAsync(
        HttpClient client, HttpMethod method, string path, bool guard, string? bearer = null, string? origin = null, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (guard)
        {
            request.Headers.Add(Guard, "1");
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await client.SendAsync(request);
    }
}
