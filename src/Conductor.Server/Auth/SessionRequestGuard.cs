namespace Conductor.Server.Auth;

/// <summary>
/// Cross-site request forgery guard for the cookie session. A browser sends the cookie along with requests other
/// sites make, so a request that changes something and is authenticated by the cookie (or that logs in) must carry
/// <see cref="HeaderName"/> — which a cross-site form cannot send, and a cross-site script can only send after a CORS
/// preflight this server never approves — and, when the browser names its origin, come from this server's.
/// Requests with a bearer token are not affected: no browser adds a token on its own.
/// </summary>
public static class SessionRequestGuard
{
    public const string HeaderName = "X-Conductor-Request";

    public static IApplicationBuilder UseSessionRequestGuard(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (NeedsCheck(context) && WhyRefused(context.Request) is { } why)
        {
            await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: why).ExecuteAsync(context);
            return;
        }

        await next(context);
    });

    private static bool NeedsCheck(HttpContext context)
    {
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method))
        {
            return false;
        }

        return context.User.Identity?.AuthenticationType == SessionAuthenticationHandler.SchemeName
            || (context.Request.Headers.Authorization.Count == 0 && context.Request.Cookies.ContainsKey(DashboardSessions.CookieName))
            || context.Request.Path.StartsWithSegments(AuthPaths.Session, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Null when the request may go on; else the sentence that says why not.</summary>
    public static string? WhyRefused(HttpRequest request)
    {
        if (request.Headers.Authorization.Count > 0 && !request.Cookies.ContainsKey(DashboardSessions.CookieName))
        {
            return null;
        }

        if (request.Headers[HeaderName].ToString() != "1")
        {
            return $"A request made with the dashboard's session must carry the header '{HeaderName}: 1'.";
        }

        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && site is not ("same-origin" or "none"))
        {
            return "A request made with the dashboard's session must come from the dashboard's own pages.";
        }

        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            return $"The origin '{origin}' is not this server's.";
        }

        return null;
    }
}

/// <summary>The routes of the dashboard's log-in.</summary>
public static class AuthPaths
{
    public const string Session = "/api/v1/auth/session";
    public const string LoginCodes = "/api/v1/auth/login-codes";
}
