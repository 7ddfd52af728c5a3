using Conductor.Server.Api;
using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace Conductor.Server.Hosting;

/// <summary>
/// The web dashboard: static files compiled into the server assembly, so it works wherever the server runs from.
/// <c>GET /</c> gives browsers the page and other clients the JSON service description.
/// </summary>
public static class DashboardEndpoints
{
    public const string AssetsPath = "/assets";

    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public static WebApplication MapDashboard(this WebApplication app, Func<ServiceView> describe)
    {
        var files = new EmbeddedFileProvider(typeof(DashboardEndpoints).Assembly, "Conductor.Server.Dashboard");
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = AssetsPath,
            OnPrepareResponse = c =>
            {
                c.Context.Response.Headers.CacheControl = "no-cache";
                c.Context.Response.Headers.XContentTypeOptions = "nosniff";
            },
        });

        app.MapGet("/", async (HttpContext http) =>
        {
            var accept = http.Request.Headers.Accept.ToString();
            if (!accept.Contains("text/html", StringComparison.OrdinalIgnoreCase))
            {
                return TypedResults.Json(describe(), JsonBody.Options);
            }

            var index = files.GetFileInfo("index.html");
            await using var stream = index.CreateReadStream();
            using var reader = new StreamReader(stream);
            http.Response.Headers[HeaderNames.ContentSecurityPolicy] = ContentSecurityPolicy;
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers.XFrameOptions = "DENY";
            return Results.Content(await reader.ReadToEndAsync(), "text/html; charset=utf-8");
        }).AllowAnonymous().ExcludeFromDescription();
        return app;
    }
}
