using Conductor.Server.Auth;
using Conductor.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Api;

/// <param name="Url">The whole link, for a caller on the local socket, who knows no web address of the server.</param>
public sealed record LoginCodeView(string Code, string LoginPath, DateTimeOffset Expires, string? Url = null);

public sealed record SessionRequest(string? Code);

public sealed record SessionView(string Account, bool Admin, DateTimeOffset Expires);

/// <summary>
/// The dashboard's log-in: a token holder mints a single-use code (<c>conductor dashboard</c> prints it in a link
/// whose fragment carries it, so it never appears in a request line or a server log); the page trades it, or a
/// pasted token, for a session cookie; log-out ends the session.
/// </summary>
public static class AuthEndpoints
{
    public static RouteGroupBuilder MapAuthApi(this RouteGroupBuilder api)
    {
        var auth = api.MapGroup("/auth").WithTags("Auth");
        auth.MapPost("/login-codes", CreateCode)
            .WithSummary("A single-use code, valid for two minutes, that logs a browser in as the caller (token callers only)");
        auth.MapPost("/session", CreateSessionAsync).AllowAnonymous()
            .WithSummary("Log in: trade a login code, or the token of the Authorization header, for a session cookie");
        auth.MapDelete("/session", EndSession).AllowAnonymous().WithSummary("Log out: end the session of the cookie");
        auth.MapGet("/session", (HttpContext http, DashboardSessions sessions) =>
                http.Request.Cookies.TryGetValue(DashboardSessions.CookieName, out var cookie) && sessions.Find(cookie) is { } found
                    ? Results.Ok(new SessionView(found.Caller.User, found.Caller.IsAdmin, found.Expires))
                    : Results.NoContent())
            .AllowAnonymous()
            .WithSummary("The session of the cookie; 204 when there is none");
        return api;
    }

    private static IResult CreateCode(HttpContext http, DashboardSessions sessions, IOptions<ServerOptions> options)
    {
        // A session cannot mint codes: otherwise it could renew itself forever, past its lifetime.
        if (http.User.Identity?.AuthenticationType == SessionAuthenticationHandler.SchemeName)
        {
            return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: "A login code is given to token holders only (conductor dashboard), not to a dashboard session.");
        }

        var code = sessions.CreateCode(http.GetCaller());
        var path = "/#login=" + code.Secret;
        return TypedResults.Ok(new LoginCodeView(code.Secret, path, code.Expires,
            PeerAuthenticationHandler.IsLocalSocket(http) ? WebAddress(options.Value) + path : null));
    }

    /// <summary>Where a browser on this machine reaches the server: its TCP address (loopback when it listens on all).</summary>
    private static string WebAddress(ServerOptions options)
    {
        var scheme = options.TlsCertificate is null ? "http" : "https";
        if (!ListenAddress.TryParse(options.Listen, out var listen, out _))
        {
            return $"{scheme}://{options.Listen}";
        }

        var host = listen.Address.Equals(System.Net.IPAddress.Any) ? "127.0.0.1"
            : listen.Address.Equals(System.Net.IPAddress.IPv6Any) ? "[::1]"
            : listen.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{listen.Address}]"
            : listen.Address.ToString();
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{scheme}://{host}:{listen.Port}");
    }

    private static async Task<IResult> CreateSessionAsync(HttpContext http, DashboardSessions sessions, TokenRegistry tokens, CancellationToken ct)
    {
        DashboardSessions.Issued? issued;
        if (http.Request.Headers.Authorization.Count > 0 || tokens.NoAuth)
        {
            if (http.User.Identity?.AuthenticationType != TokenAuthenticationHandler.SchemeName)
            {
                return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "The token is not valid.");
            }

            issued = sessions.CreateSession(http.GetCaller());
        }
        else
        {
            var (request, problem) = await JsonBody.ReadAsync<SessionRequest>(http.Request, ct);
            if (problem is not null)
            {
                return problem;
            }

            if (string.IsNullOrWhiteSpace(request!.Code))
            {
                return Problems.Validation("A login code or a token is needed.", "code", "is required when no Authorization header is sent");
            }

            issued = sessions.Redeem(request.Code.Trim());
            if (issued is null)
            {
                return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                    detail: "The login code is unknown, used or expired; run 'conductor dashboard' for a new one.");
            }
        }

        http.Response.Cookies.Append(DashboardSessions.CookieName, issued.Secret, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            Expires = issued.Expires,
            IsEssential = true,
        });
        return TypedResults.Ok(new SessionView(issued.Caller.User, issued.Caller.IsAdmin, issued.Expires));
    }

    private static IResult EndSession(HttpContext http, DashboardSessions sessions)
    {
        if (http.Request.Cookies.TryGetValue(DashboardSessions.CookieName, out var cookie))
        {
            sessions.End(cookie);
        }

        http.Response.Cookies.Delete(DashboardSessions.CookieName, new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict });
        return TypedResults.NoContent();
    }
}
