using System.Text;
using System.Text.Json;
using Conductor.Core.Jobs;
using Conductor.Server.Api;
using Conductor.Server.Auth;
using Conductor.Server.Jobs;

namespace Conductor.Server.Live;

/// <summary>
/// <c>GET /api/v1/events</c>: Server-Sent Events for the dashboard. <c>changed</c> when anything in the cluster
/// changed (the page then reads what it shows); with <c>?job=ID</c> also <c>output</c> events carrying the job's new
/// output from the offsets given (<c>stdout_offset</c>, <c>stderr_offset</c>), and <c>output_end</c> once the job has
/// ended and all of it was sent. Output files are not watched by the kernel (they may be on NFS): while a followed
/// job runs, its files are looked at every <see cref="OutputInterval"/>, for that connection only.
/// </summary>
public static class LiveEndpoints
{
    public static readonly TimeSpan OutputInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>A burst of changes is told as one event at most this often per connection.</summary>
    private static readonly TimeSpan MinSpacing = TimeSpan.FromMilliseconds(150);

    private const int ChunkBytes = 64 * 1024;

    public static RouteGroupBuilder MapLiveApi(this RouteGroupBuilder api)
    {
        api.MapGet("/events", StreamAsync)
            .WithTags("Dashboard")
            .WithSummary("Server-Sent Events: 'changed' on any change; with ?job=ID the job's output as it is written")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return api;
    }

    private static async Task StreamAsync(
        HttpContext http, string? job, long? stdout_offset, long? stderr_offset, LiveUpdates live, JobService jobs, TimeProvider time, CancellationToken ct)
    {
        JobId? followed = null;
        if (job is not null)
        {
            if (!JobRef.TryParse(job, out var reference, out _) || reference.Tasks is { Count: > 1 })
            {
                await Problems.BadJobId(job).ExecuteAsync(http);
                return;
            }

            // An array task (A_k) is followed through its own row.
            if (await jobs.GetAsync(http.GetCaller(), reference, ct) is not { } record)
            {
                await Problems.NotFound($"Job {job}").ExecuteAsync(http);
                return;
            }

            followed = record.Id;
        }

        if (stdout_offset is < 0 || stderr_offset is < 0)
        {
            await Problems.Validation("Negative offset.", "stdout_offset", "must be zero or more").ExecuteAsync(http);
            return;
        }

        using var subscription = live.Subscribe();
        var response = http.Response;
        response.Headers.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        await WriteAsync(response, "retry: 2000\nevent: hello\ndata: {\"version\":" + live.Version + "}\n\n", ct);

        var output = followed is { } f ? new OutputFollow(f, stdout_offset ?? 0, stderr_offset ?? 0) : null;
        var sentVersion = live.Version;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (output is { Done: false })
                {
                    await output.SendAsync(http, jobs, ct);
                }

                // Parked until something changes; a followed running job's files are looked at on a short timeout.
                var woken = await subscription.Signal.WaitAsync(output is { Done: false } ? OutputInterval : TimeSpan.FromHours(1), time, ct);
                if (!woken)
                {
                    continue;
                }

                var version = live.Version;
                if (version == sentVersion)
                {
                    await WriteAsync(response, ": keep-alive\n\n", ct);
                    continue;
                }

                sentVersion = version;
                if (output is not null)
                {
                    output.StateMayHaveChanged = true;
                }

                await WriteAsync(response, "event: changed\ndata: {\"version\":" + version + "}\n\n", ct);
                await Task.Delay(MinSpacing, time, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The page went away.
        }
    }

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken ct)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        await response.Body.FlushAsync(ct);
    }

    /// <summary>What one connection has sent of a job's output.</summary>
    private sealed class OutputFollow(JobId id, long stdout, long stderr)
    {
        private readonly Dictionary<string, long> _offsets = new() { ["stdout"] = stdout, ["stderr"] = stderr };
        private JobRecord? _job;

        public bool Done { get; private set; }

        public bool StateMayHaveChanged { get; set; } = true;

        public async Task SendAsync(HttpContext http, JobService jobs, CancellationToken ct)
        {
            if (StateMayHaveChanged || _job is null)
            {
                _job = await jobs.GetAsync(http.GetCaller(), id, ct);
                StateMayHaveChanged = false;
                if (_job is null)
                {
                    Done = true;
                    return;
                }
            }

            var ended = _job.State.IsTerminal();
            var caughtUp = true;
            foreach (var (stream, path) in new[] { ("stdout", _job.StdoutPath), ("stderr", _job.StderrPath == _job.StdoutPath ? null : _job.StderrPath) })
            {
                // A few chunks per turn, so that a huge file does not hold the connection.
                for (var i = 0; i < 16; i++)
                {
                    var chunk = await JobOutputReader.ReadChunkAsync(path, _job.Spec.Owner, _offsets[stream], ChunkBytes, ct);
                    if (chunk.NextOffset == chunk.Offset)
                    {
                        break;
                    }

                    _offsets[stream] = chunk.NextOffset;
                    var data = JsonSerializer.Serialize(new OutputEvent(stream, chunk.Offset, chunk.NextOffset, chunk.Data), JsonBody.Options);
                    await WriteAsync(http.Response, "event: output\ndata: " + data + "\n\n", ct);
                    if (i == 15 && chunk.NextOffset < chunk.Size)
                    {
                        caughtUp = false;
                    }
                }
            }

            if (ended && caughtUp)
            {
                Done = true;
                await WriteAsync(http.Response, "event: output_end\ndata: {\"state\":\"" + _job.State.ToSlurmName() + "\"}\n\n", ct);
            }
        }
    }

    private sealed record OutputEvent(string Stream, long Offset, long NextOffset, string Data);
}
