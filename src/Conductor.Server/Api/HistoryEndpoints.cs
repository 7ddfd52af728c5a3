using System.Globalization;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;
using Conductor.Server.Auth;

namespace Conductor.Server.Api;

/// <summary><c>GET /api/v1/history</c>: ended jobs, filtered, sorted by end time or efficiency, in keyset pages.</summary>
public static class HistoryEndpoints
{
    private const int MaxLimit = 1000;

    public static RouteGroupBuilder MapHistoryApi(this RouteGroupBuilder api)
    {
        api.MapGet("/history", ListAsync)
            .WithTags("Jobs")
            .WithSummary("Ended jobs: filters state, account, name, partition, from/to (end time); sort end, cpu_efficiency or memory_efficiency; keyset pages");
        return api;
    }

    private static async Task<IResult> ListAsync(
        HttpContext http,
        IHistoryStore history,
        TimeProvider time,
        string? state,
        string? account,
        string? name,
        string? partition,
        string? from,
        string? to,
        string? sort,
        string? order,
        int? limit,
        string? after,
        CancellationToken ct)
    {
        var errors = new ValidationErrors();
        List<JobState>? states = null;
        if (!string.IsNullOrWhiteSpace(state))
        {
            states = [];
            foreach (var part in state.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (JobStates.TryParse(part, out var s) && s.IsTerminal())
                {
                    states.Add(s);
                }
                else
                {
                    errors.Add("state", $"'{part}' is not a final state; use {string.Join(", ", JobStates.All.Where(x => x.IsTerminal()).Select(x => x.ToSlurmName()))}");
                }
            }
        }

        var endedFrom = ParseTime(from, "from", errors);
        var endedTo = ParseTime(to, "to", errors);
        if (endedFrom is { } f && endedTo is { } t && t <= f)
        {
            errors.Add("to", "must be after 'from'");
        }

        var sortBy = sort?.ToLowerInvariant() switch
        {
            null or "" or "end" or "end_time" => HistorySort.EndTime,
            "cpu_efficiency" => HistorySort.CpuEfficiency,
            "memory_efficiency" => HistorySort.MemoryEfficiency,
            _ => Invalid(errors, "sort", "must be 'end', 'cpu_efficiency' or 'memory_efficiency'", HistorySort.EndTime),
        };
        var ascending = order?.ToLowerInvariant() switch
        {
            null or "" or "desc" => false,
            "asc" => true,
            _ => Invalid(errors, "order", "must be 'asc' or 'desc'", false),
        };
        if (limit is < 1 or > MaxLimit)
        {
            errors.Add("limit", $"must be between 1 and {MaxLimit}");
        }

        HistoryCursor? cursor = null;
        if (!string.IsNullOrEmpty(after))
        {
            cursor = ParseCursor(after);
            if (cursor is null)
            {
                errors.Add("after", "must be the next_after of a previous page");
            }
        }

        if (!errors.IsEmpty)
        {
            return Problems.Invalid(errors, "");
        }

        var caller = http.GetCaller();
        var query = new HistoryQuery
        {
            States = states,
            Account = Blank(account),
            Owner = caller.IsAdmin ? null : caller.User,
            Partition = Blank(partition),
            Name = Blank(name),
            EndedFrom = endedFrom,
            EndedTo = endedTo,
            Sort = sortBy,
            Ascending = ascending,
            After = cursor,
            Limit = limit ?? 50,
        };
        var page = await history.ListHistoryAsync(query, ct);
        var now = time.GetUtcNow();
        return TypedResults.Ok(new JobListView(page.Jobs.Select(j => JobView.From(j, now)).ToList(), page.Next is { } next ? FormatCursor(next) : null));
    }

    public static string FormatCursor(HistoryCursor cursor) =>
        string.Create(CultureInfo.InvariantCulture, $"{cursor.Key:R}~{cursor.Id}");

    public static HistoryCursor? ParseCursor(string text)
    {
        var parts = text.Split('~');
        return parts.Length == 2
            && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var key)
            && double.IsFinite(key)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? new HistoryCursor(key, id)
                : null;
    }

    private static DateTimeOffset? ParseTime(string? text, string field, ValidationErrors errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        errors.Add(field, "must be a time such as 2026-03-01T12:00:00Z");
        return null;
    }

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    private static T Invalid<T>(ValidationErrors errors, string field, string message, T fallback)
    {
        errors.Add(field, message);
        return fallback;
    }
}
