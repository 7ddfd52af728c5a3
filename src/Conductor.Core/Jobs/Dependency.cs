using System.Globalization;
using System.Text;

namespace Conductor.Core.Jobs;

/// <summary>The kinds of Slurm's <c>--dependency</c>.</summary>
public enum DependencyKind
{
    /// <summary>After the target has started (or was cancelled before it could), plus an optional delay in minutes.</summary>
    After,

    /// <summary>After the target has ended, however it ended.</summary>
    AfterAny,

    /// <summary>After the target has ended COMPLETED (exit 0); never once it ended otherwise.</summary>
    AfterOk,

    /// <summary>After the target has ended in any state but COMPLETED; never once it completed.</summary>
    AfterNotOk,

    /// <summary>A task of an array after the task of the same index of another array ended COMPLETED.</summary>
    AfterCorr,

    /// <summary>When no other job of the same name and user runs.</summary>
    Singleton,
}

/// <summary>One term of a dependency: a kind and its target (none for singleton).</summary>
/// <param name="Target">The job or array the term waits for.</param>
/// <param name="Task">One task of the array <paramref name="Target"/> (<c>123_7</c>); null for the whole job or array.</param>
/// <param name="Minutes">For <c>after:ID+N</c>: how long after the target's start.</param>
public sealed record DependencyTerm(DependencyKind Kind, JobId? Target, int? Task = null, int Minutes = 0)
{
    public string TargetText => Target is not { } target ? "" : Task is { } task ? $"{target}_{task.ToString(CultureInfo.InvariantCulture)}" : target.ToString();

    public override string ToString() => Kind == DependencyKind.Singleton
        ? "singleton"
        : $"{Dependencies.Name(Kind)}:{TargetText}{(Minutes > 0 ? "+" + Minutes.ToString(CultureInfo.InvariantCulture) : "")}";
}

/// <summary>
/// A job's dependency, as Slurm's <c>--dependency</c>: terms joined by <c>,</c> (all must be met) or <c>?</c> (any one).
/// </summary>
public sealed record Dependency(IReadOnlyList<DependencyTerm> Terms, bool Any)
{
    public char Separator => Any ? '?' : ',';

    /// <summary>The jobs the terms name, each once.</summary>
    public IEnumerable<JobId> Targets => Terms.Where(t => t.Target is not null).Select(t => t.Target!.Value).Distinct();

    /// <summary>Slurm's own syntax, one kind per term: <c>afterok:12,afterok:13</c>.</summary>
    public override string ToString() => string.Join(Separator, Terms);

    public bool Equals(Dependency? other) => other is not null && Any == other.Any && Terms.SequenceEqual(other.Terms);

    public override int GetHashCode() => HashCode.Combine(Any, Terms.Count);
}

/// <summary>Whether a dependency term is met, as Slurm shows it after the term.</summary>
public enum DependencyState
{
    Unfulfilled,
    Fulfilled,
    Failed,
}

public static class Dependencies
{
    /// <summary>The most terms a dependency may have.</summary>
    public const int MaxTerms = 1000;

    public static string Name(DependencyKind kind) => kind switch
    {
        DependencyKind.After => "after",
        DependencyKind.AfterAny => "afterany",
        DependencyKind.AfterOk => "afterok",
        DependencyKind.AfterNotOk => "afternotok",
        DependencyKind.AfterCorr => "aftercorr",
        DependencyKind.Singleton => "singleton",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static DependencyKind ParseKind(string name) =>
        Enum.GetValues<DependencyKind>().First(k => Name(k) == name);

    public static string Name(DependencyState state) => state switch
    {
        DependencyState.Unfulfilled => "unfulfilled",
        DependencyState.Fulfilled => "fulfilled",
        DependencyState.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    /// <summary>
    /// Reads Slurm's syntax: <c>afterok:12:13,afterany:14</c>, <c>afterok:12?afternotok:12</c>, <c>after:12+5</c>,
    /// <c>aftercorr:20</c>, <c>singleton</c>, <c>afterok:30_7</c> (one task of an array), <c>afterok:30_*</c> (the whole
    /// array), and a bare id (<c>12</c>, Slurm's <c>afterany:12</c>). Empty text means no dependency.
    /// </summary>
    public static bool TryParse(string? text, out Dependency? dependency, out string error)
    {
        dependency = null;
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        var s = text.Trim();
        if (s.Contains(',', StringComparison.Ordinal) && s.Contains('?', StringComparison.Ordinal))
        {
            error = "may join its parts with ',' (all) or '?' (any), not both";
            return false;
        }

        var any = s.Contains('?', StringComparison.Ordinal);
        var terms = new List<DependencyTerm>();
        foreach (var part in s.Split(any ? '?' : ','))
        {
            if (part.Length == 0)
            {
                error = $"'{Shorten(s)}' has an empty part; write e.g. afterok:12,afterany:13";
                return false;
            }

            var words = part.Split(':');
            DependencyKind kind;
            IEnumerable<string> ids;
            if (words[0].Length > 0 && char.IsAsciiDigit(words[0][0]))
            {
                kind = DependencyKind.AfterAny;
                ids = words;
            }
            else if (!TryKind(words[0], out kind))
            {
                error = $"'{Shorten(words[0])}' is not a dependency type; use after, afterany, afterok, afternotok, aftercorr or singleton";
                return false;
            }
            else if (kind == DependencyKind.Singleton)
            {
                if (words.Length > 1)
                {
                    error = "singleton takes no job ids";
                    return false;
                }

                terms.Add(new DependencyTerm(kind, null));
                continue;
            }
            else if (words.Length < 2)
            {
                error = $"{words[0]} needs at least one job id, as in {words[0]}:12";
                return false;
            }
            else
            {
                ids = words.Skip(1);
            }

            foreach (var word in ids)
            {
                if (!TryTarget(word, kind, out var term, out error))
                {
                    return false;
                }

                terms.Add(term!);
            }

            if (terms.Count > MaxTerms)
            {
                error = $"names more than {MaxTerms} jobs";
                return false;
            }
        }

        dependency = new Dependency(terms, any);
        return true;
    }

    /// <summary>The combined state of a dependency from the states of its terms, in order.</summary>
    public static DependencyState Combine(IReadOnlyList<DependencyState> states, bool any)
    {
        if (any)
        {
            return states.Contains(DependencyState.Fulfilled) ? DependencyState.Fulfilled
                : states.Count > 0 && states.All(s => s == DependencyState.Failed) ? DependencyState.Failed
                : DependencyState.Unfulfilled;
        }

        return states.Contains(DependencyState.Failed) ? DependencyState.Failed
            : states.All(s => s == DependencyState.Fulfilled) ? DependencyState.Fulfilled
            : DependencyState.Unfulfilled;
    }

    /// <summary>Slurm's display of a dependency with the state of each term: <c>afterok:12(unfulfilled),afterany:13(fulfilled)</c>.</summary>
    public static string Describe(Dependency dependency, IReadOnlyList<DependencyState> states)
    {
        ArgumentNullException.ThrowIfNull(dependency);
        var text = new StringBuilder();
        for (var i = 0; i < dependency.Terms.Count; i++)
        {
            if (i > 0)
            {
                text.Append(dependency.Separator);
            }

            text.Append(dependency.Terms[i]).Append('(').Append(Name(i < states.Count ? states[i] : DependencyState.Unfulfilled)).Append(')');
        }

        return text.ToString();
    }

    private static bool TryKind(string word, out DependencyKind kind)
    {
        foreach (var k in Enum.GetValues<DependencyKind>())
        {
            if (string.Equals(Name(k), word, StringComparison.OrdinalIgnoreCase))
            {
                kind = k;
                return true;
            }
        }

        kind = default;
        return false;
    }

    private static bool TryTarget(string word, DependencyKind kind, out DependencyTerm? term, out string error)
    {
        term = null;
        error = "";
        var minutes = 0;
        var id = word;
        var plus = word.IndexOf('+', StringComparison.Ordinal);
        if (plus >= 0)
        {
            if (kind != DependencyKind.After ||
                !int.TryParse(word[(plus + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out minutes) || minutes > 525_600)
            {
                error = kind == DependencyKind.After
                    ? $"'{Shorten(word)}' has a bad delay; write after:ID+MINUTES with at most 525600 minutes"
                    : $"'{Shorten(word)}': only after takes a delay (+MINUTES)";
                return false;
            }

            id = word[..plus];
        }

        int? task = null;
        var underscore = id.IndexOf('_', StringComparison.Ordinal);
        if (underscore >= 0)
        {
            var index = id[(underscore + 1)..];
            if (index != "*")
            {
                if (!int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out var k))
                {
                    error = $"'{Shorten(word)}' is not a job id; use 12, an array's 12 or one task's 12_7";
                    return false;
                }

                task = k;
            }

            id = id[..underscore];
        }

        if (!JobId.TryParse(id, out var target))
        {
            error = $"'{Shorten(word)}' is not a job id; use 12, an array's 12 or one task's 12_7";
            return false;
        }

        term = new DependencyTerm(kind, target, task, minutes);
        return true;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";
}
