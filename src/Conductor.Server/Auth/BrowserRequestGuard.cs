using System.Net;
using Conductor.Server.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Conductor.Server.Auth;

/// <summary>
/// Keeps web pages from driving the server through a visitor's browser. A request that carries no
/// <c>Authorization</c> header — every request under <c>--no-auth</c>, and whatever a browser sends on its own — may
/// change nothing when it comes from another origin (its <c>Origin</c> is not this server), names a host that is
/// not this server (DNS rebinding, under <c>--no-auth</c>), or submits anything but <c>application/json</c>: a
/// cross-origin page can send a "simple" <c>text/plain</c> or form POST without asking, but not a JSON one, nor an
/// Authorization header. Programs (the CLI, scripts, SCNS-Conductor clients) send no Origin and are not affected.
/// </summary>
public sealed class BrowserRequestGuard(RequestDelegate next, IOptions<ServerOptions> options)
{
    private readonly ServerOptions _options = options.Value;

    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method) ||
            request.Headers.Authorization.Count > 0 || Why(request) is not { } refusal)
        {
            await next(context);
            return;
        }

        await Results.Problem(statusCode: refusal.Status, title: refusal.Title, detail: refusal.Detail).ExecuteAsync(context);
    }

    private (int Status, string Title, string Detail)? Why(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !SameOrigin(origin, request.Host))
        {
            return (StatusCodes.Status403Forbidden, "Cross-origin request refused",
                $"A request from the web page at {origin} may not change anything here; send the request from this server's own page or with a token.");
        }

        if (_options.NoAuth && !IsLocalHost(request.Host))
        {
            return (StatusCodes.Status403Forbidden, "Foreign host refused",
                $"The request names host '{request.Host}', which is not this server's; without authentication only a loopback name is accepted.");
        }

        var submits = request.Path.StartsWithSegments("/api/v1/jobs", StringComparison.Ordinal) && HttpMethods.IsPost(request.Method) &&
            !request.Path.Value!.EndsWith("/cancel", StringComparison.Ordinal) ||
            request.Path.Equals("/jobs/submit", StringComparison.Ordinal);
        var browser = origin.Length > 0 || request.Headers.ContainsKey("Sec-Fetch-Mode");

        // A request with a header of its own (the dashboard's guard header) is not "simple": a page of another
        // origin cannot send it without a CORS preflight, which this server never grants.
        var preflighted = request.Headers.ContainsKey("X-Conductor-Request");
        if ((submits || browser) && !preflighted && !IsJson(request.ContentType))
        {
            return (StatusCodes.Status415UnsupportedMediaType, "JSON required",
                "Without an Authorization header, submitting and cancelling require 'Content-Type: application/json'.");
        }

        return null;
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media) &&
        (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) ||
         media.MediaType.Value?.EndsWith("+json", StringComparison.OrdinalIgnoreCase) == true);

    private static bool SameOrigin(string origin, HostString host) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) &&
        string.Equals(uri.Authority, host.Value, StringComparison.OrdinalIgnoreCase);

    private static bool IsLocalHost(HostString host) =>
        host.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
        IPAddress.TryParse(host.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
}
