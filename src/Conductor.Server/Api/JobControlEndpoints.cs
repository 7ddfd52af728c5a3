using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Conductor.Server.Auth;
using Conductor.Server.Jobs;

namespace Conductor.Server.Api;

/// <summary>Update, signal and requeue a job; drain and resume a node (scontrol update, scancel --signal, scontrol requeue).</summary>
public static class JobControlEndpoints
{
    public static RouteGroupBuilder MapJobControl(this RouteGroupBuilder jobs)
    {
        jobs.MapPost("/{id}/update", UpdateAsync)
            .Accepts<JobUpdateInput>("application/json")
            .WithSummary("Change a pending job's fields (as at submit), or lower a running job's time limit (raising it needs the admin)");
        jobs.MapPost("/{id}/signal", SignalAsync)
            .Accepts<SignalRequestBody>("application/json")
            .WithSummary("Send a signal to a running job's processes without ending it (scancel --signal)");
        jobs.MapPost("/{id}/requeue", RequeueAsync)
            .WithSummary("Put a running or ended job back in the queue as a new attempt; a running one is stopped first; ?hold=true leaves it held (scontrol requeuehold)");
        return jobs;
    }

    public static RouteGroupBuilder MapNodeControl(this RouteGroupBuilder api)
    {
        api.MapPost("/nodes/{name}/drain", DrainAsync)
            .Accepts<DrainRequest>("application/json")
            .WithTags("Nodes")
            .WithSummary("Drain a node (admin): it finishes what it runs and is given nothing new");
        api.MapPost("/nodes/{name}/resume", (HttpContext http, string name, JobControlService control, CancellationToken ct) =>
                SetDrainAsync(http, name, null, control, ct))
            .WithTags("Nodes")
            .WithSummary("Resume a drained node (admin)");
        return api;
    }

    /// <summary>
    /// The row a route's id names: a job (an array's own row for <c>A</c>), or one array task <c>A_k</c>, which is split
    /// off first when it has not started. Several tasks name no single row: a bad id.
    /// </summary>
    private static async Task<(JobId? Id, IResult? Problem)> ResolveAsync(HttpContext http, string id, JobService service, CancellationToken ct)
    {
        if (!JobRef.TryParse(id, out var reference, out _) || reference.Tasks is { Count: > 1 })
        {
            return (null, Problems.BadJobId(id));
        }

        if (reference.Tasks is null)
        {
            return (reference.Id, null);
        }

        if (await service.WhyNoSuchTasksAsync(http.GetCaller(), reference, ct) is { } missing)
        {
            return (null, Problems.NoSuchTasks(id, missing));
        }

        return await service.ResolveRowAsync(http.GetCaller(), reference, ct) is { } row ? (row, null) : (null, Problems.NotFound($"Job {id}"));
    }

    private static async Task<IResult> UpdateAsync(HttpContext http, string id, JobControlService control, JobService service, CancellationToken ct)
    {
        var (resolved, bad) = await ResolveAsync(http, id, service, ct);
        if (resolved is not { } jobId)
        {
            return bad!;
        }

        var (input, problem) = await JsonBody.ReadAsync<JobUpdateInput>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var result = await control.UpdateAsync(http.GetCaller(), jobId, input!, ct);
        if (result is null || result.Outcome == UpdateOutcome.NotFound)
        {
            return Problems.NotFound($"Job {id}");
        }

        if (result.Conflict is { } conflict)
        {
            return Conflict(conflict);
        }

        return result.Errors.IsEmpty ? TypedResults.Ok(new JobActionResponse(id, "updated")) : Problems.Invalid(result.Errors, "");
    }

    private static async Task<IResult> SignalAsync(HttpContext http, string id, JobControlService control, JobService service, CancellationToken ct)
    {
        var (resolved, bad) = await ResolveAsync(http, id, service, ct);
        if (resolved is not { } jobId)
        {
            return bad!;
        }

        var (body, problem) = await JsonBody.ReadAsync<SignalRequestBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (!SignalNumbers.TryParse(body!.Signal, out var signal))
        {
            return Problems.Validation("Unknown signal.", "signal", $"'{body.Signal}' is not a signal: use a name such as USR1 or SIGUSR1, or a number from 1 to {SignalNumbers.Max}");
        }

        var result = await control.SignalAsync(http.GetCaller(), jobId, signal, body.Batch ?? false, ct);
        if (result is null)
        {
            return Problems.NotFound($"Job {id}");
        }

        return result.Outcome == SignalOutcome.Queued
            ? TypedResults.Ok(new JobActionResponse(id, "signalled"))
            : Conflict($"Job {id} is {result.State.ToSlurmName()}: only a running job can be signalled.");
    }

    private static async Task<IResult> RequeueAsync(HttpContext http, string id, bool? hold, JobControlService control, JobService service, CancellationToken ct)
    {
        var (resolved, bad) = await ResolveAsync(http, id, service, ct);
        if (resolved is not { } jobId)
        {
            return bad!;
        }

        var result = await control.RequeueAsync(http.GetCaller(), jobId, hold ?? false, ct);
        return result?.Outcome switch
        {
            null => Problems.NotFound($"Job {id}"),
            RequeueOutcome.Requeued => TypedResults.Ok(new JobActionResponse(id, "requeued")),
            RequeueOutcome.Requested => TypedResults.Ok(new JobActionResponse(id, "stopping")),
            RequeueOutcome.Pending => Conflict($"Job {id} is pending already."),
            _ => Conflict($"Job {id} is still being stopped; requeue it once it has ended."),
        };
    }

    private static async Task<IResult> DrainAsync(HttpContext http, string name, JobControlService control, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<DrainRequest>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var reason = body!.Reason?.Trim();
        if (string.IsNullOrEmpty(reason) || reason.Length > 255 || reason.Any(char.IsControl))
        {
            return Problems.Validation("A drain needs a reason.", "reason", "is required: 1 to 255 printable characters saying why the node is drained");
        }

        return await SetDrainAsync(http, name, reason, control, ct);
    }

    private static async Task<IResult> SetDrainAsync(HttpContext http, string name, string? reason, JobControlService control, CancellationToken ct)
    {
        if (!NodeName.IsValid(name))
        {
            return Problems.Validation("Bad node name.", "node", "is not a valid node name");
        }

        var caller = http.GetCaller();
        if (!caller.IsAdmin)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden.",
                detail: reason is null ? "Only the admin may resume a node." : "Only the admin may drain a node.");
        }

        return await control.SetDrainAsync(caller, new NodeName(name), reason, ct)
            ? TypedResults.Ok(new NodeActionResponse(name, reason is null ? "resumed" : "drained"))
            : Problems.NotFound($"Node {name}");
    }

    private static IResult Conflict(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict.", detail: detail);
}
