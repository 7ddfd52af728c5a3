using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Server.Auth;
using Conductor.Server.Jobs;
using Conductor.Server.Scheduling;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Conductor.Server.Api;

/// <summary>The jobs API under /api/v1.</summary>
public static class JobsEndpoints
{
    private const int LogTailBytes = 1024 * 1024;
    private const int LogTailLines = 1000;

    public static RouteGroupBuilder MapJobsApi(this RouteGroupBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapPost("", SubmitAsync)
            .Accepts<SubmitRequest>("application/json", "*/*")
            .Produces<SubmitResponse>(StatusCodes.Status201Created)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .WithSummary("Submit a job");
        jobs.MapGet("", ListAsync).WithSummary("List jobs, filtered, in pages by id");
        jobs.MapGet("/{id}", GetAsync).WithSummary("One job: state, times, detail, usage; ?logs=true adds output tails");
        jobs.MapPost("/{id}/cancel", CancelAsync).WithSummary("Cancel a job; cancelling twice is fine");
        jobs.MapPost("/{id}/hold", (HttpContext http, string id, bool? admin, JobService service, CancellationToken ct) => HoldAsync(http, id, true, admin, service, ct))
            .WithSummary("Hold a pending job: it waits, with reason JobHeldUser (or JobHeldAdmin: ?admin=true, or the admin holding another user's job), until released");
        jobs.MapPost("/{id}/release", (HttpContext http, string id, JobService service, CancellationToken ct) => HoldAsync(http, id, false, null, service, ct))
            .WithSummary("Release a held job; an admin's hold only by the admin");
        jobs.MapPost("/{id}/dependency", SetDependencyAsync)
            .Accepts<DependencyRequest>("application/json")
            .ProducesValidationProblem()
            .WithSummary("Replace a pending job's dependency (Slurm's syntax; empty removes it), as scontrol update Dependency=");
        jobs.MapJobControl();
        jobs.MapGet("/{id}/events", EventsAsync).WithSummary("The job's timeline");
        jobs.MapGet("/{id}/output", OutputAsync).WithSummary("Output bytes from an offset, for following");
        return api;
    }

    private static Task<IResult> SubmitAsync(HttpContext http, JobService service, CancellationToken ct) =>
        SubmitWithAsync(http, service, id => TypedResults.Created($"/api/v1/jobs/{id}", new SubmitResponse(id.ToString())), ct);

    /// <summary>Reads a submission, submits it, and answers with <paramref name="created"/> or the field errors; shared with the compatibility route.</summary>
    internal static async Task<IResult> SubmitWithAsync(HttpContext http, JobService service, Func<JobId, IResult> created, CancellationToken ct)
    {
        var (request, problem) = await JsonBody.ReadAsync<SubmitRequest>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var result = await service.SubmitAsync(http.GetCaller(), request!.Job, request.Script, ct);
        return result.JobId is { } id ? created(id)
            : result.OverLimit is { } limit ? TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Over a per-user limit.", detail: limit)
            : result.Forbidden is { } forbidden ? TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden.", detail: forbidden)
            : Problems.Invalid(result.Errors, "job.");
    }

    private static async Task<IResult> ListAsync(
        HttpContext http,
        JobService service,
        SchedulerView scheduler,
        TimeProvider time,
        string? state,
        string? account,
        string? partition,
        string? node,
        int? limit,
        string? after,
        string? order,
        CancellationToken ct)
    {
        var errors = new ValidationErrors();
        List<JobState>? states = null;
        if (!string.IsNullOrWhiteSpace(state))
        {
            states = [];
            foreach (var part in state.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (JobStates.TryParse(part, out var s))
                {
                    states.Add(s);
                }
                else
                {
                    errors.Add("state", $"'{part}' is not a state; use {string.Join(", ", JobStates.All.Select(x => x.ToSlurmName()))}");
                }
            }
        }

        JobId? cursor = null;
        if (after is not null)
        {
            if (JobId.TryParse(after, out var a))
            {
                cursor = a;
            }
            else
            {
                errors.Add("after", "must be a job id");
            }
        }

        if (limit is < 1 or > 1000)
        {
            errors.Add("limit", "must be between 1 and 1000");
        }

        if (node is not null && !NodeName.IsValid(node))
        {
            errors.Add("node", "is not a valid node name");
        }

        var descending = order?.ToLowerInvariant() switch
        {
            null or "asc" => false,
            "desc" => true,
            _ => AddError(errors, "order", "must be 'asc' or 'desc'"),
        };

        if (!errors.IsEmpty)
        {
            return Problems.Invalid(errors, "");
        }

        var query = new JobQuery
        {
            States = states,
            Account = account,
            Partition = partition,
            Node = node is null ? null : new NodeName(node),
            After = cursor,
            Descending = descending,
            Limit = limit ?? 100,
        };
        var page = await service.ListAsync(http.GetCaller(), query, ct);
        var now = time.GetUtcNow();
        var next = query.HasMoreAfter(page) ? page[^1].Id.ToString() : null;
        return TypedResults.Ok(new JobListView(page.Select(j => JobView.From(j, now, factors: scheduler.FactorsOf(j))).ToList(), next));
    }

    private static async Task<IResult> GetAsync(
        HttpContext http, string id, bool? logs, JobService service, SchedulerView scheduler, TimeProvider time, CancellationToken ct)
    {
        if (!JobRef.TryParse(id, out var reference, out _) || reference.Tasks is { Count: > 1 })
        {
            return Problems.BadJobId(id);
        }

        var job = await service.GetAsync(http.GetCaller(), reference, ct);
        if (job is null)
        {
            return Problems.NotFound($"Job {id}");
        }

        var tasks = job.ArrayJobId == job.Id && reference.Tasks is null ? await service.GetArrayCountsAsync(http.GetCaller(), job.Id, ct) : null;
        JobLogView? log = null;
        if (logs == true)
        {
            log = new JobLogView(
                await JobOutputReader.ReadTailAsync(job.StdoutPath, job.Spec.Owner, LogTailBytes, LogTailLines, ct),
                job.StderrPath == job.StdoutPath ? "" : await JobOutputReader.ReadTailAsync(job.StderrPath, job.Spec.Owner, LogTailBytes, LogTailLines, ct));
        }

        return TypedResults.Ok(JobView.From(job, time.GetUtcNow(), log, scheduler.FactorsOf(job), tasks));
    }

    private static async Task<IResult> CancelAsync(HttpContext http, string id, JobService service, CancellationToken ct)
    {
        if (!JobRef.TryParse(id, out var reference, out _))
        {
            return Problems.BadJobId(id);
        }

        if (await service.WhyNoSuchTasksAsync(http.GetCaller(), reference, ct) is { } missing)
        {
            return Problems.NoSuchTasks(id, missing);
        }

        var result = await service.CancelAsync(http.GetCaller(), reference, ct);
        return result is null || result.Outcome == CancelOutcome.NotFound
            ? Problems.NotFound($"Job {id}")
            : TypedResults.Ok(new CancelResponse(id, result.State.ToSlurmName(), result.Outcome == CancelOutcome.Cancelled));
    }

    private static async Task<IResult> HoldAsync(HttpContext http, string id, bool hold, bool? admin, JobService service, CancellationToken ct)
    {
        if (!JobRef.TryParse(id, out var reference, out _))
        {
            return Problems.BadJobId(id);
        }

        if (await service.WhyNoSuchTasksAsync(http.GetCaller(), reference, ct) is { } missing)
        {
            return Problems.NoSuchTasks(id, missing);
        }

        var outcome = await service.SetHoldAsync(http.GetCaller(), reference, hold, admin, ct);
        return outcome switch
        {
            null => Problems.NotFound($"Job {id}"),
            HoldOutcome.Forbidden => TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden.", detail: admin == true
                ? "Only the admin may put an admin's hold on a job."
                : $"Job {id} is held by the admin; only the admin may release or change that hold."),
            HoldOutcome.NotPending => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Not pending.",
                detail: $"Job {id} is no longer pending; only a pending or running job can be held or released."),
            { } o => TypedResults.Ok(new HoldResponse(id, hold, o == HoldOutcome.Changed, true)),
        };
    }

    private static async Task<IResult> SetDependencyAsync(HttpContext http, string id, JobService service, TimeProvider time, CancellationToken ct)
    {
        if (!JobId.TryParse(id, out var jobId))
        {
            return Problems.BadJobId(id);
        }

        var (request, problem) = await JsonBody.ReadAsync<DependencyRequest>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var (outcome, errors) = await service.SetDependencyAsync(http.GetCaller(), jobId, request!.Dependency, ct);
        return outcome switch
        {
            _ when !errors.IsEmpty => Problems.Invalid(errors, ""),
            null => Problems.NotFound($"Job {id}"),
            DependencyChangeOutcome.NotPending => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Not pending.",
                detail: $"Job {id} is no longer pending; only a pending job's dependency can change."),
            _ => TypedResults.Ok(JobView.From((await service.GetAsync(http.GetCaller(), jobId, ct))!, time.GetUtcNow())),
        };
    }

    private static async Task<IResult> EventsAsync(HttpContext http, string id, JobService service, CancellationToken ct)
    {
        if (!JobRef.TryParse(id, out var reference, out _) || reference.Tasks is { Count: > 1 })
        {
            return Problems.BadJobId(id);
        }

        var events = await service.GetAsync(http.GetCaller(), reference, ct) is { } job ? await service.GetEventsAsync(http.GetCaller(), job.Id, ct) : null;
        return events is null ? Problems.NotFound($"Job {id}") : TypedResults.Ok(events.Select(JobEventView.From).ToList());
    }

    private static async Task<IResult> OutputAsync(
        HttpContext http, string id, string? stream, long? offset, int? limit, JobService service, CancellationToken ct)
    {
        if (!JobRef.TryParse(id, out var reference, out _) || reference.Tasks is { Count: > 1 })
        {
            return Problems.BadJobId(id);
        }

        var which = stream?.ToLowerInvariant() ?? "stdout";
        if (which is not ("stdout" or "stderr"))
        {
            return Problems.Validation("Unknown stream.", "stream", "must be 'stdout' or 'stderr'");
        }

        if (offset is < 0)
        {
            return Problems.Validation("Negative offset.", "offset", "must be zero or more");
        }

        if (limit is < 1 or > JobOutputReader.MaxChunkBytes)
        {
            return Problems.Validation("Bad limit.", "limit", $"must be between 1 and {JobOutputReader.MaxChunkBytes}");
        }

        var job = await service.GetAsync(http.GetCaller(), reference, ct);
        if (job is null)
        {
            return Problems.NotFound($"Job {id}");
        }

        var path = which == "stdout" ? job.StdoutPath : job.StderrPath;
        var chunk = await JobOutputReader.ReadChunkAsync(path, job.Spec.Owner, offset ?? 0, limit ?? 64 * 1024, ct);
        var eof = job.State.IsTerminal() && chunk.NextOffset >= chunk.Size;
        return TypedResults.Ok(new OutputView(id, which, chunk.Offset, chunk.NextOffset, chunk.Size, eof, job.State.ToSlurmName(), chunk.Data));
    }

    private static bool AddError(ValidationErrors errors, string field, string message)
    {
        errors.Add(field, message);
        return false;
    }
}
