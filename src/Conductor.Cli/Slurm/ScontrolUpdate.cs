using System.Globalization;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Server.Api;
using Conductor.Server.Jobs;

namespace Conductor.Cli.Slurm;

/// <summary>
/// <c>scontrol update JobId=N Key=Value...</c>, <c>scontrol update NodeName=X State=DRAIN|RESUME Reason=...</c> and
/// <c>scontrol requeue ID</c>, through the same API routes as <c>conductor update</c>, <c>nodes drain</c> and
/// <c>requeue</c>. Silent on success, as Slurm's.
/// </summary>
public static class ScontrolUpdate
{
    /// <summary>The API's update fields under the keys scontrol takes.</summary>
    private static readonly Dictionary<string, string> KeyOfField = new(StringComparer.Ordinal)
    {
        ["time_limit"] = "TimeLimit",
        ["partition"] = "Partition",
        ["cpus_per_task"] = "NumCPUs",
        ["memory_per_node"] = "MinMemoryNode",
        ["name"] = "Name",
        ["nice"] = "Nice",
        ["begin"] = "StartTime",
        ["dependency"] = "Dependency",
        ["gres"] = "Gres",
    };

    public static async Task<int> UpdateAsync(SlurmContext context, List<string> words, CancellationToken ct)
    {
        var pairs = new List<(string Key, string Value)>();
        foreach (var word in words)
        {
            var eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new SlurmUsageException($"{context.Program}: error: Invalid input: {word}");
            }

            pairs.Add((word[..eq], word[(eq + 1)..]));
        }

        if (pairs.Count == 0)
        {
            throw new SlurmUsageException("too few arguments for keyword:update");
        }

        var first = pairs[0].Key.ToLowerInvariant();
        if (first is "nodename" or "node")
        {
            return await UpdateNodeAsync(context, pairs, ct);
        }

        if (first is not ("jobid" or "job"))
        {
            throw new SlurmUsageException($"{context.Program}: error: Invalid input: {words[0]}; valid keywords are JobId and NodeName");
        }

        var ids = context.JobIds([pairs[0].Value]);
        var input = new JobUpdateInput();
        foreach (var (key, value) in pairs.Skip(1))
        {
            input = key.ToLowerInvariant() switch
            {
                "timelimit" => input with { TimeLimit = value },
                "partition" => input with { Partition = value },
                "numcpus" or "mincpusnode" or "cpuspertask" => input with { CpusPerTask = Number(context, key, value) },
                "minmemorynode" => input with { MemoryPerNode = value },
                "name" or "jobname" => input with { Name = value },
                "nice" => input with { Nice = Number(context, key, value) },
                "starttime" or "begintime" => input with { Begin = value },
                "dependency" => input with { Dependency = value },
                "gres" or "trespernode" => input with { Gres = value.StartsWith("gres/", StringComparison.Ordinal) ? value[5..] : value },
                _ => throw new SlurmUsageException($"Update of this parameter is not supported: {key}={value}\nRequest aborted"),
            };
        }

        if (input.IsEmpty)
        {
            throw new SlurmUsageException($"{context.Program}: error: No changes specified");
        }

        using var client = context.Connect(KeyOfField);
        var code = 0;
        foreach (var id in ids)
        {
            try
            {
                await client.PostAsync<JobActionResponse>($"/api/v1/jobs/{id}/update", input, ct);
            }
            catch (CliException e) when (e.ExitCode != ExitCodes.Unreachable)
            {
                context.Error.WriteLine(e.ExitCode == ExitCodes.NotFound ? $"Invalid job id specified for job {id}" : $"Error updating job {id}: {e.Message}");
                code = 1;
            }
        }

        return code;
    }

    /// <summary><c>NodeName=X State=DRAIN Reason=TEXT</c>, <c>State=RESUME</c> (or UNDRAIN); a drain needs a reason, as in Slurm.</summary>
    private static async Task<int> UpdateNodeAsync(SlurmContext context, List<(string Key, string Value)> pairs, CancellationToken ct)
    {
        var names = pairs[0].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string? state = null;
        string? reason = null;
        foreach (var (key, value) in pairs.Skip(1))
        {
            switch (key.ToLowerInvariant())
            {
                case "state":
                    state = value.ToUpperInvariant();
                    break;
                case "reason":
                    reason = value;
                    break;
                default:
                    throw new SlurmUsageException($"Update of this parameter is not supported: {key}={value}\nRequest aborted");
            }
        }

        var drain = state switch
        {
            "DRAIN" => true,
            "RESUME" or "UNDRAIN" or "IDLE" => false,
            null => throw new SlurmUsageException($"{context.Program}: error: No changes specified"),
            _ => throw new SlurmUsageException($"{context.Program}: error: Invalid node state specified: {state}; Conductor's scontrol sets DRAIN or RESUME"),
        };
        if (drain && string.IsNullOrWhiteSpace(reason))
        {
            throw new SlurmUsageException("You must specify a reason when DOWNING or DRAINING a node. Request denied");
        }

        using var client = context.Connect();
        var code = 0;
        foreach (var name in names)
        {
            try
            {
                await client.PostAsync<NodeActionResponse>(
                    $"/api/v1/nodes/{Uri.EscapeDataString(name)}/{(drain ? "drain" : "resume")}", drain ? new DrainRequest(reason) : null, ct);
            }
            catch (CliException e) when (e.ExitCode != ExitCodes.Unreachable)
            {
                context.Fail(e.ExitCode == ExitCodes.NotFound ? $"Invalid node name specified: {name}" : e.Message);
                code = 1;
            }
        }

        return code;
    }

    /// <summary><c>scontrol requeue ID[,ID...]</c> (also <c>JobId=ID</c>).</summary>
    public static async Task<int> RequeueAsync(SlurmContext context, ConductorClient client, List<string> words, bool hold, CancellationToken ct)
    {
        var keyword = hold ? "requeuehold" : "requeue";
        if (hold && words.FirstOrDefault(w => w.StartsWith("state=", StringComparison.OrdinalIgnoreCase)) is { } state)
        {
            throw new SlurmUsageException($"{context.Program}: error: requeuehold {state} is not supported by this Conductor server yet");
        }

        var lists = words.Select(w => w.StartsWith("jobid=", StringComparison.OrdinalIgnoreCase) ? w[6..] : w).ToList();
        if (lists.Count == 0)
        {
            throw new SlurmUsageException($"too few arguments for keyword:{keyword}");
        }

        var code = 0;
        foreach (var id in context.JobIds(lists))
        {
            try
            {
                await client.PostAsync<JobActionResponse>($"/api/v1/jobs/{id}/requeue{(hold ? "?hold=true" : "")}", null, ct);
            }
            catch (CliException e) when (e.ExitCode != ExitCodes.Unreachable)
            {
                // Slurm's words, one line per job, as scontrol prints them.
                context.Error.WriteLine(e.ExitCode == ExitCodes.NotFound ? $"Invalid job id specified for job {id}"
                    : e.Message.Contains("pending already", StringComparison.Ordinal) ? $"Job is pending execution for job {id}"
                    : e.Message.Contains("being stopped", StringComparison.Ordinal) ? $"Job can not be altered now, try again later for job {id}"
                    : $"{e.Message.TrimEnd('.')} for job {id}");
                code = 1;
            }
        }

        return code;
    }

    private static int Number(SlurmContext context, string key, string value) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new SlurmUsageException($"{context.Program}: error: Invalid {key} value: {value}");
}
