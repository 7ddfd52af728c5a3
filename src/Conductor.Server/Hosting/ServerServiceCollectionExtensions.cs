using System.Security.Cryptography.X509Certificates;
using Conductor.Core.Hosting;
using Conductor.Core.Scheduling;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Conductor.Server.Api;
using Conductor.Server.Auth;
using Conductor.Server.Charts;
using Conductor.Server.Jobs;
using Conductor.Server.Live;
using Conductor.Server.Scheduling;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Conductor.Server.Hosting;

public static class ServerServiceCollectionExtensions
{
    /// <summary>The API, authentication and job services. A store and a wake bus must be registered too.</summary>
    public static IServiceCollection AddConductorApi(this IServiceCollection services)
    {
        services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IWakeBus, InProcessWakeBus>();
        services.TryAddSingleton<ILeadership, SoleLeadership>();
        services.AddSingleton<JobService>();
        services.AddSingleton<JobControlService>();
        services.TryAddSingleton<SchedulerView>();
        services.AddSingleton<DashboardService>();
        services.AddSingleton<ConductorMetrics>();
        services.AddSingleton<ISchedulerPassObserver>(sp => sp.GetRequiredService<ConductorMetrics>());
        services.AddHostedService<JobDurationRecorder>();
        services.AddSingleton<TokenRegistry>();
        services.AddSingleton<LocalSocket>();
        services.AddSingleton<DashboardSessions>();
        services.AddSingleton<ClusterSampler>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterSampler>());
        services.AddSingleton<LiveUpdates>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveUpdates>());
        services.AddAuthentication(SessionAuthenticationHandler.SelectorName)
            .AddPolicyScheme(SessionAuthenticationHandler.SelectorName, null, o => o.ForwardDefaultSelector = SessionAuthenticationHandler.SelectScheme)
            .AddScheme<AuthenticationSchemeOptions, TokenAuthenticationHandler>(TokenAuthenticationHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, SessionAuthenticationHandler>(SessionAuthenticationHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, PeerAuthenticationHandler>(PeerAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();

        // Neither tokens nor the dashboard's session cookie (an opaque key the server keeps) need data-protection keys;
        // keep data protection in memory rather than in the user's home.
        services.AddSingleton<IDataProtectionProvider, EphemeralDataProtectionProvider>();
        services.AddProblemDetails();
        services.AddOpenApi("v1");
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonBody.Options.PropertyNamingPolicy;
            o.SerializerOptions.DictionaryKeyPolicy = null;
        });
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerOptions>, LocalSocket>((kestrel, server, socket) =>
        {
            if (socket.Enabled)
            {
                kestrel.ListenUnixSocket(socket.Path);
            }

            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = server.Value.MaxRequestBytes;
            if (ListenAddress.TryParse(server.Value.Listen, out var listen, out _))
            {
                kestrel.Listen(listen.Address, listen.Port, endpoint =>
                {
                    if (server.Value.TlsCertificate is { Length: > 0 } certificate)
                    {
                        endpoint.UseHttps(X509Certificate2.CreateFromPemFile(certificate, server.Value.TlsKey));
                    }
                });
            }
        });
        return services;
    }

    /// <summary>
    /// The node watchdog of a cluster: on the scheduler leader, nodes whose agent has not sent a heartbeat for
    /// <see cref="NodeWatchdogOptions.NodeTimeout"/> are marked DOWN and their running jobs requeued or failed.
    /// </summary>
    public static IServiceCollection AddConductorNodeWatchdog(this IServiceCollection services)
    {
        services.AddOptions<NodeWatchdogOptions>().BindConfiguration(NodeWatchdogOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IWakeBus, InProcessWakeBus>();
        services.TryAddSingleton<ILeadership, SoleLeadership>();
        services.AddSingleton<NodeWatchdogService>();
        services.AddHostedService(sp => sp.GetRequiredService<NodeWatchdogService>());
        return services;
    }

    /// <summary>Retention: ended jobs older than the configured age are purged with their events.</summary>
    public static IServiceCollection AddConductorRetention(this IServiceCollection services)
    {
        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return services;
    }

    /// <summary>The scheduler: the pure policy and the service that runs its passes.</summary>
    public static IServiceCollection AddConductorScheduler(this IServiceCollection services)
    {
        services.AddOptions<SchedulerOptions>().BindConfiguration(SchedulerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IWakeBus, InProcessWakeBus>();
        services.TryAddSingleton<ISchedulingPolicy>(sp => new BackfillPolicy(sp.GetRequiredService<IOptions<SchedulerOptions>>().Value.ToPolicyOptions() with
        {
            PartitionTiers = (sp.GetService<IOptions<ServerOptions>>()?.Value.Partitions ?? []).ToDictionary(p => p.Name, p => p.PriorityTier, StringComparer.Ordinal),
        }));
        services.TryAddSingleton<ILeadership, SoleLeadership>();
        services.TryAddSingleton<FairShareLedger>();
        services.TryAddSingleton(sp => sp.GetService<IOptions<ServerOptions>>()?.Value.UserLimits ?? UserLimits.None);
        services.TryAddSingleton<SchedulerView>();
        services.TryAddSingleton<DependencyUpkeep>();
        services.AddSingleton<SchedulerService>();
        services.AddHostedService(sp => sp.GetRequiredService<SchedulerService>());
        return services;
    }

    public static WebApplication MapConductorApi(this WebApplication app)
    {
        // Writes the admin token at first start, before the first request needs it.
        _ = app.Services.GetRequiredService<TokenRegistry>();

        var serverOptions = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
        if (ListenAddress.TryParse(serverOptions.Listen, out var address, out _) && !address.IsLoopback && serverOptions.TlsCertificate is null)
        {
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Conductor").LogWarning(
                "Listening on {Listen} beyond loopback without TLS: tokens and job data travel in clear; give --tls-cert and --tls-key",
                serverOptions.Listen);
        }

        var socket = app.Services.GetRequiredService<LocalSocket>();
        if (socket.Problem is { } socketProblem)
        {
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Conductor").LogWarning(
                "No local socket: {Problem}; local users need a token", socketProblem);
        }
        else
        {
            app.Lifetime.ApplicationStarted.Register(socket.Permit);
        }

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<BrowserRequestGuard>();
        app.UseAuthentication();
        app.UseSessionRequestGuard();
        app.UseAuthorization();

        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapGet("/healthz", HealthAsync).AllowAnonymous().WithTags("Health");
        app.MapGet("/health", HealthAsync).AllowAnonymous().WithTags("Health").ExcludeFromDescription();
        var options = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
        var loopback = ListenAddress.TryParse(options.Listen, out var listen, out _) && listen.IsLoopback;
        var service = new ServiceView("Conductor", Version, "running", "/api/v1", "/openapi/v1.json", "/", "/metrics",
            loopback ? Path.GetFullPath(options.AdminTokenPath) : null);
        app.MapDashboard(() => service);
        app.MapGet("/api/v1", () => TypedResults.Ok(service)).AllowAnonymous().WithTags("Health").WithSummary("What this server is and where its parts are");
        app.MapGet("/api", () => TypedResults.Ok(service)).AllowAnonymous().ExcludeFromDescription();

        // Prometheus scrapers rarely carry a token and the series are counts only: a loopback server answers anyone
        // on the machine; a server reachable from elsewhere wants a token, as for everything else.
        var metrics = app.MapMetrics("/metrics", app.Services.GetRequiredService<ConductorMetrics>().Registry).ExcludeFromDescription();
        if (loopback || options.NoAuth)
        {
            metrics.AllowAnonymous();
        }
        else
        {
            metrics.RequireAuthorization();
        }

        var api = app.MapGroup("/api/v1").RequireAuthorization();
        api.MapGet("/healthz", HealthAsync).AllowAnonymous().WithTags("Health");
        api.MapJobsApi();
        api.MapClusterApi();
        api.MapAuthApi();
        api.MapHistoryApi();
        api.MapChartsApi();
        api.MapLiveApi();
        app.MapCompatibilityApi();
        return app;
    }

    public static string Version { get; } =
        typeof(ServerServiceCollectionExtensions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static async Task<IResult> HealthAsync(INodeStore nodes, ILeadership leadership, TimeProvider time, CancellationToken ct)
    {
        try
        {
            await nodes.ListAsync(ct);
            return TypedResults.Ok(new HealthView("healthy", Version, time.GetUtcNow(), leadership.IsLeader ? "leader" : "standby"));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Unhealthy", detail: "The database does not answer.");
        }
    }
}
