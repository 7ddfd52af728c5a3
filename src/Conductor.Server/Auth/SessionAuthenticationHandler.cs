using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Auth;

/// <summary>
/// Authenticates the dashboard's session cookie (see <see cref="DashboardSessions"/>). A request that carries an
/// Authorization header is the token handler's; <see cref="SelectScheme"/> decides which one runs.
/// </summary>
public sealed class SessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    DashboardSessions sessions,
    TokenRegistry tokens) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ConductorSession";

    /// <summary>The default scheme: forwards to the token or the session handler.</summary>
    public const string SelectorName = "Conductor";

    /// <summary>
    /// Token when the request says Authorization, session cookie when it carries one, the peer's uid on the local
    /// socket, token (asking for one) otherwise.
    /// </summary>
    public static string SelectScheme(HttpContext context) =>
        context.Request.Headers.Authorization.Count > 0 ? TokenAuthenticationHandler.SchemeName
        : context.Request.Cookies.ContainsKey(DashboardSessions.CookieName) ? SchemeName
        : PeerAuthenticationHandler.IsLocalSocket(context) ? PeerAuthenticationHandler.SchemeName
        : TokenAuthenticationHandler.SchemeName;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Cookies.TryGetValue(DashboardSessions.CookieName, out var cookie) || cookie.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (sessions.Find(cookie) is not { } found)
        {
            if (tokens.NoAuth)
            {
                return Task.FromResult(Success(new Caller(tokens.AdminAccount, IsAdmin: true)));
            }


            return Task.FromResult(AuthenticateResult.Fail("The session has ended."));
        }

        return Task.FromResult(Success(found.Caller));
    }

    private static AuthenticateResult Success(Caller caller) =>
        AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName));

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Unauthorized",
            detail: "The dashboard session has ended or is unknown: run 'conductor dashboard' for a new login link, or use a token.")
            .ExecuteAsync(Context);
    }
}
