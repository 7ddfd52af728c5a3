using Conductor.Core.Jobs;
using Conductor.Server.Auth;
using Conductor.Server.Hosting;
using Conductor.Server.Jobs;
using Microsoft.Extensions.Options;

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
        api.MapNodeControl();
        api.MapGet("/partitions", PartitionsAsync)
            .WithTags("Nodes")
            .WithSummary("Partitions with their nodes, limits and which one is the default");
        api.MapGet("/whoami", (HttpContext http) => TypedResults.Ok(new WhoAmIView(http.GetCaller().User, http.GetCaller().IsAdmin)))
            .WithTags("Auth")
            .WithSummary("The user of the caller's token or socket");
        api.MapGet("/dashboard", DashboardAsync).WithTags("Dashboard").WithSummary("Counts, utilisation, nodes, running and pending jobs");
        return api;
    }

    private static async Task<IResult> PartitionsAsync(JobService jobs, IOptions<ServerOptions> options, CancellationToken ct)
    {
        var nodes = await jobs.NodesAsync(refresh: true, ct);
        var server = options.Value;
        var names = nodes.SelectMany(n => n.Partitions).Append(server.DefaultPartition).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return TypedResults.Ok(names.Select(name =>
        {
            var members = nodes.Where(n => n.Partitions.Contains(name)).ToList();
            return new PartitionView(
                name,
                name == server.DefaultPartition,
                server.MaxTimeLimitValue?.TotalSeconds,
                server.DefaultTimeLimitValue?.TotalSeconds,
                members.Select(n => n.Name.Value).ToList(),
                members.Sum(n => n.Cpus),
                members.Sum(n => n.MemoryMiB));
        }).ToList());
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
            data.Pending.Select(j => JobView.From(j, now)).ToList())
        {
            Arrays = data.Arrays.ToDictionary(a => a.Key.ToString(), a => (IReadOnlyDictionary<string, long>)a.Value.ByState.ToDictionary(s => s.Key.ToSlurmName(), s => s.Value)),
        });
    }
}
