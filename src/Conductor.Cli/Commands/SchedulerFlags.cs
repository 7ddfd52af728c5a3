using System.CommandLine;
using System.Globalization;
using Conductor.Server.Scheduling;

namespace Conductor.Cli.Commands;

/// <summary>The flags of <c>conductor server</c> that tune the scheduler: backfill depth, priority weights, fair-share half-life.</summary>
public sealed class SchedulerFlags
{
    public Option<int?> BackfillDepth { get; } = new("--backfill-depth")
    {
        Description = "How many blocked jobs of each partition get a backfill reservation [8].",
        HelpName = "N",
    };

    public Option<string?> PriorityWeights { get; } = new("--priority-weights")
    {
        Description = "Weights of the priority factors, e.g. age=1000,fairshare=10000,jobsize=0,partition=1000 (those are the defaults).",
        HelpName = "LIST",
    };

    public Option<string?> HalfLife { get; } = new("--fairshare-half-life")
    {
        Description = "How fast past usage is forgotten in fair-share: it halves every this long, e.g. 7d or 12h [7d].",
        HelpName = "AGE",
    };

    public Option<bool> KillOnInvalidDependency { get; } = new("--kill-on-invalid-dep")
    {
        Description = "Cancel a job whose dependency can never be satisfied, instead of leaving it pending with reason DependencyNeverSatisfied.",
    };

    public IEnumerable<Option> All => [BackfillDepth, PriorityWeights, HalfLife, KillOnInvalidDependency];

    /// <summary>The settings to apply, or the one sentence that says which flag is wrong.</summary>
    public (Action<SchedulerOptions>? Apply, string? Error) Resolve(ParseResult parse)
    {
        var depth = parse.GetValue(BackfillDepth);
        if (depth is < 1 or > 10_000)
        {
            return (null, "--backfill-depth must be between 1 and 10000.");
        }

        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        if (parse.GetValue(PriorityWeights) is { } text)
        {
            foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var pair = part.Split('=', 2);
                if (pair.Length != 2 || pair[0] is not ("age" or "fairshare" or "jobsize" or "partition") ||
                    !double.TryParse(pair[1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var weight) || weight > 1e9)
                {
                    return (null, $"--priority-weights '{part}' is not a weight; write age=N, fairshare=N, jobsize=N or partition=N, comma-separated.");
                }

                weights[pair[0]] = weight;
            }
        }

        TimeSpan? halfLife = null;
        if (parse.GetValue(HalfLife) is { } age)
        {
            if (!ServerCommand.TryParseAge(age, out var value))
            {
                return (null, $"--fairshare-half-life '{age}' is not an age; use days such as 7d, or hours such as 12h.");
            }

            halfLife = value;
        }

        var killOnInvalidDependency = parse.GetValue(KillOnInvalidDependency);
        return (o =>
        {
            o.BackfillDepth = depth ?? o.BackfillDepth;
            o.PriorityWeightAge = weights.GetValueOrDefault("age", o.PriorityWeightAge);
            o.PriorityWeightFairShare = weights.GetValueOrDefault("fairshare", o.PriorityWeightFairShare);
            o.PriorityWeightJobSize = weights.GetValueOrDefault("jobsize", o.PriorityWeightJobSize);
            o.PriorityWeightPartition = weights.GetValueOrDefault("partition", o.PriorityWeightPartition);
            o.UsageHalfLife = halfLife ?? o.UsageHalfLife;
            o.KillOnInvalidDependency = killOnInvalidDependency || o.KillOnInvalidDependency;
        }, null);
    }
}
