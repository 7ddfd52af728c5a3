using System.Globalization;
using Conductor.Core.Parsing;

namespace Conductor.Core.Scheduling;

/// <summary>
/// What a partition allows, as a line of Slurm's slurm.conf says it:
/// <c>gpu DefaultTime=1:00:00 MaxTime=1-00:00:00 AllowAccounts=physics,chemistry PriorityTier=2 Exclusive=yes</c>.
/// A partition without a line has no limits of its own.
/// </summary>
public sealed record PartitionLimits(string Name)
{
    /// <summary>The time limit of a job that gives none; null: the server's default.</summary>
    public TimeSpan? DefaultTime { get; init; }

    /// <summary>The longest time limit a job may ask for; null: the server's maximum.</summary>
    public TimeSpan? MaxTime { get; init; }

    /// <summary>The accounts that may submit here; null: every account.</summary>
    public IReadOnlyList<string>? AllowAccounts { get; init; }

    /// <summary>Jobs of a higher tier come first (the partition factor of their priority).</summary>
    public int PriorityTier { get; init; }

    /// <summary>Every job of the partition takes whole nodes.</summary>
    public bool Exclusive { get; init; }

    public bool Allows(string account) => AllowAccounts is null || AllowAccounts.Contains(account, StringComparer.Ordinal);

    public static bool TryParse(string? text, out PartitionLimits limits, out string error)
    {
        limits = null!;
        error = "";
        var words = (text ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0 || words[0].Contains('=', StringComparison.Ordinal))
        {
            error = "must start with the partition's name, e.g. 'gpu MaxTime=1-00:00:00'";
            return false;
        }

        var result = new PartitionLimits(words[0]);
        foreach (var word in words.Skip(1))
        {
            var pair = word.Split('=', 2);
            var value = pair.Length == 2 ? pair[1] : "";
            switch (pair[0].ToLowerInvariant())
            {
                case "defaulttime" when TimeLimitFormat.TryParse(value, out var time, out _):
                    result = result with { DefaultTime = time };
                    break;
                case "maxtime" when TimeLimitFormat.TryParse(value, out var max, out _):
                    result = result with { MaxTime = max };
                    break;
                case "allowaccounts" when value.Length > 0:
                    result = result with
                    {
                        AllowAccounts = value.Equals("ALL", StringComparison.OrdinalIgnoreCase)
                            ? null
                            : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                    };
                    break;
                case "prioritytier" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var tier) && tier <= 65533:
                    result = result with { PriorityTier = tier };
                    break;
                case "exclusive" when value.ToLowerInvariant() is "yes" or "no" or "true" or "false":
                    result = result with { Exclusive = value.ToLowerInvariant() is "yes" or "true" };
                    break;
                default:
                    error = $"'{word}' is not a partition setting; use DefaultTime=, MaxTime=, AllowAccounts=, PriorityTier= or Exclusive=yes|no";
                    return false;
            }
        }

        if (result.DefaultTime is { } d && result.MaxTime is { } m && d > m)
        {
            error = $"DefaultTime of partition '{result.Name}' is longer than its MaxTime";
            return false;
        }

        limits = result;
        return true;
    }
}
