using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Parsing;
using Conductor.Core.Storage;
using Conductor.Server.Auth;
using Conductor.Server.Jobs;

namespace Conductor.Server.Api;

/// <summary>
/// The routes and JSON shapes of SCNS-Conductor, so its clients work unchanged. Thin adapters over the same
/// services as /api/v1. Where the old system was wrong this follows Slurm: exit codes are code:signal,
/// a cancelled job stays CANCELLED, "2:30" is two and a half minutes, and times are UTC.
/// </summary>
public static class CompatEndpoints
{
    private const int LogTailBytes = 1024 * 1024;
    private const int LogTailLines = 1000;

    public static IEndpointRouteBuilder MapCompatibilityApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("SCNS-Conductor compatibility").RequireAuthorization();
        group.MapPost("/jobs/submit", SubmitAsync)
            .Accepts<SubmitRequest>("application/json", "*/*")
            .Produces<SubmitResponse>(StatusCodes.Status201Created);
        group.MapGet("/jobs/query/{id}", QueryAsync);
        group.MapPost("/jobs/cancel/{id}", CancelAsync);
        group.MapGet("/dashboard", DashboardAsync);
        return app;
    }

    private static Task<IResult> SubmitAsync(HttpContext http, JobService service, CancellationToken ct) =>
        JobsEndpoints.SubmitWithAsync(
            http, service, id => TypedResults.Json(new SubmitResponse(id.ToString()), JsonBody.Options, statusCode: StatusCodes.Status201Created), ct);

    private static async Task<IResult> QueryAsync(HttpContext http, string id, JobService service, TimeProvider time, CancellationToken ct)
    {
        if (!JobId.TryParse(id, out var jobId))
        {
            return Problems.BadJobId(id);
        }

        var job = await service.GetAsync(http.GetCaller(), jobId, ct);
        if (job is null)
        {
            return TypedResults.Json(new CompatError($"Job {id} not found"), JsonBody.Options, statusCode: StatusCodes.Status404NotFound);
        }

        var now = time.GetUtcNow();
        var stdout = await JobOutputReader.ReadTailAsync(job.StdoutPath, job.Spec.Owner, LogTailBytes, LogTailLines, ct);
        var stderr = job.StderrPath == job.StdoutPath ? "" : await JobOutputReader.ReadTailAsync(job.StderrPath, job.Spec.Owner, LogTailBytes, LogTailLines, ct);
        var spec = job.Spec;
        var view = new CompatJobView(
            job.Id.ToString(),
            job.State.ToSlurmName(),
            job.ErrorMessage,
            new CompatTimeView(
                Naive(job.SubmitTime),
                Naive(job.StartTime),
                Naive(job.EndTime),
                Naive(job.EligibleTime ?? job.SubmitTime),
                TimeLimitFormat.FormatElapsed(job.Elapsed(now)),
                TimeLimitFormat.Format(spec.TimeLimit)),
            new CompatLogView(stderr, stdout),
            new CompatDetailView(
                spec.Name,
                spec.Account,
                spec.Partition,
                spec.TotalCpus,
                1,
                job.Node?.Value ?? "",
                job.ExitCode?.ToString() ?? ":",
                spec.WorkDir,
                "API",
                spec.Account));
        return TypedResults.Json(view, JsonBody.Options);
    }

    private static async Task<IResult> CancelAsync(HttpContext http, string id, JobService service, CancellationToken ct)
    {
        if (!JobId.TryParse(id, out var jobId))
        {
            return Problems.BadJobId(id);
        }

        var result = await service.CancelAsync(http.GetCaller(), jobId, ct);
        return result is null || result.Outcome == CancelOutcome.NotFound
            ? TypedResults.Json(new CompatError($"Job {id} not found"), JsonBody.Options, statusCode: StatusCodes.Status404NotFound)
            : TypedResults.Json(new CompatCancelView("取消成功", result.State.ToSlurmName()), JsonBody.Options);
    }

    private static async Task<IResult> DashboardAsync(HttpContext http, DashboardService dashboard, CancellationToken ct)
    {
        var data = await dashboard.GetAsync(http.GetCaller(), ct);
        var c = data.Counts;
        var view = new CompatDashboardView(
            new CompatJobStats(
                c.Total,
                c[JobState.Running],
                c[JobState.Pending],
                c[JobState.Completed],
                c[JobState.Failed],
                c[JobState.Cancelled],
                c[JobState.Timeout],
                c[JobState.OutOfMemory],
                c[JobState.NodeFail]),
            new CompatResourceStats(
                data.TotalCpus,
                data.AllocatedCpus,
                data.IdleCpus,
                DashboardData.Percent(data.AllocatedCpus, data.TotalCpus)),
            data.Nodes.Select(n => new CompatNodeInfo(
                n.Name.Value,
                string.Join(',', n.Partitions),
                n.Cpus,
                n.AllocatedCpus,
                Math.Max(0, n.Cpus - n.AllocatedCpus),
                n.State == Core.Nodes.NodeState.Up,
                DashboardData.Percent(n.AllocatedCpus, n.Cpus))).ToList(),
            data.Running.Select(Summary).ToList(),
            data.Pending.Select(Summary).ToList());
        return TypedResults.Json(view, JsonBody.Options);
    }

    private static CompatJobSummary Summary(JobRecord j) => new(
        j.Id.Value,
        j.Spec.Name,
        j.Spec.Account,
        j.State.ToSlurmName(),
        j.Spec.TotalCpus,
        Naive(j.SubmitTime)!,
        Naive(j.StartTime));

    // SCNS-Conductor printed naive UTC times with microseconds and no zone designator.
    private static string? Naive(DateTimeOffset? t) =>
        t?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
}

public sealed record CompatError(string Detail);

public sealed record CompatCancelView(string Msg, string State);

public sealed record CompatTimeView(string? SubmitTime, string? StartTime, string? EndTime, string? EligibleTime, string ElapsedTime, string LimitTime);

public sealed record CompatLogView(string Stderr, string Stdout);

public sealed record CompatDetailView(
    string JobName,
    string User,
    string Partition,
    int AllocatedCpus,
    int AllocatedNodes,
    string NodeList,
    string ExitCode,
    string WorkDir,
    string DataSource,
    string Account);

public sealed record CompatJobView(string JobId, string State, string? ErrorMsg, CompatTimeView Time, CompatLogView JobLog, CompatDetailView Detail);

public sealed record CompatJobStats(long Total, long Running, long Pending, long Completed, long Failed, long Cancelled, long Timeout, long OutOfMemory, long NodeFail);

public sealed record CompatResourceStats(int TotalCpus, int AllocatedCpus, int AvailableCpus, double UtilizationRate);

public sealed record CompatNodeInfo(string NodeName, string Partition, int TotalCpus, int AllocatedCpus, int AvailableCpus, bool Available, double UtilizationRate);

public sealed record CompatJobSummary(long JobId, string Name, string Account, string State, int AllocatedCpus, string SubmitTime, string? StartTime);

public sealed record CompatDashboardView(
    CompatJobStats JobStats,
    CompatResourceStats ResourceStats,
    IReadOnlyList<CompatNodeInfo> NodeInfo,
    IReadOnlyList<CompatJobSummary> RunningJobs,
    IReadOnlyList<CompatJobSummary> PendingJobs);
