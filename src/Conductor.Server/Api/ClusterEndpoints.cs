using Conductor.Core.Jobs;
using Conductor.Server.Auth;
using Conductor.Server.Jobs;

namespace Conductor.Server.Api;

/// <summary>Nodes and the dashboard overview under /api/v1.</summary>
public static class ClusterEndpoints
{
    public static RouteGroupBuilder MapClusterApi(this RouteGroupBuilder api)
    {
        api.MapGet("/nodes", async (JobService jobs, CancellationToken ct) =>
                TypedResults.Ok((await jobs.NodesAsync(refresh: true, ct)).Select(NodeView.From).ToList()))
            .WithTags("Nodes")
            .WithSummary("Nodes with their CPUs and memory, allocated and idle");
        api.MapGet("/whoami", (HttpContext http) => TypedResults.Ok(new WhoAmIView(http.GetCaller().User, http.GetCaller().IsAdmin)))
            .WithTags("Auth")
            .WithSummary("The user of the caller's token or socket");
        api.MapGet("/dashboard", DashboardAsync).WithTags("Dashboard").WithSummary("Counts, utilisation, nodes, running and pending jobs");
        return api;
    }

    private static async Task<IResult> DashboardAsync(HttpContext http, DashboardService dashboard, TimeProvider time, CancellationToken ct)
    {
        var data = await dashboard.GetAsync(http.GetCaller(), ct);
        var now = time.GetUtcNow();
        var counts = JobStates.All.ToDictionary(s => s.ToSlurmName(), s => data.Counts[s]);
        counts["TOTAL"] = data.Counts.Total;
        return TypedResults.Ok(new DashboardView(
            counts,
            new DashboardCpuView(data.TotalCpus, data.AllocatedCpus, data.IdleCpus, DashboardData.Percent(data.AllocatedCpus, data.TotalCpus)),
            new DashboardMemoryView(data.TotalMemoryMiB, data.AllocatedMemoryMiB, DashboardData.Percent(data.AllocatedMemoryMiB, data.TotalMemoryMiB)),
            data.Nodes.Select(NodeView.From).ToList(),
            data.Running.Select(j => JobView.From(j, now)).ToList(),
            data.Pending.Select(j => JobView.From(j, now)).ToList()));
    }
}
