using System.Globalization;
using System.Text;

namespace Conductor.Core.Jobs;

/// <summary>One run of task ids: <c>First</c>, <c>First + Step</c>, ... up to <c>Last</c> (which lies on the step).</summary>
public readonly record struct TaskRange(int First, int Last, int Step)
{
    public long Count => ((long)Last - First) / Step + 1;

    public bool Contains(int id) => id >= First && id <= Last && (id - First) % Step == 0;

    public override string ToString() =>
        First == Last ? N(First) : Step == 1 ? $"{N(First)}-{N(Last)}" : $"{N(First)}-{N(Last)}:{N(Step)}";

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A set of array task ids in Slurm's range syntax: <c>1-100</c>, <c>1-100:2</c>, <c>1,3,5-7</c>. Held as a short list
/// of ranges, never as one entry per task, so a million-task array costs a few bytes until its tasks start.
/// </summary>
public sealed class TaskSet : IEquatable<TaskSet>
{
    /// <summary>The largest task id (Slurm's <c>MaxArraySize</c> - 1): an array may hold ids 0 to 1,000,000.</summary>
    public const int MaxTaskId = 1_000_000;

    /// <summary>At most this many ranges in one expression (<c>1,3,5,...</c> written out).</summary>
    public const int MaxRanges = 10_000;

    private readonly TaskRange[] _ranges;

    private TaskSet(TaskRange[] ranges) => _ranges = ranges;

    public static TaskSet Empty { get; } = new([]);

    public IReadOnlyList<TaskRange> Ranges => _ranges;

    public bool IsEmpty => _ranges.Length == 0;

    public long Count => _ranges.Sum(r => r.Count);

    public int Min => _ranges.Length == 0 ? 0 : _ranges.Min(r => r.First);

    public int Max => _ranges.Length == 0 ? 0 : _ranges.Max(r => r.Last);

    /// <summary>Slurm's <c>SLURM_ARRAY_TASK_STEP</c>: the common distance between ids when they are evenly spaced, else 1.</summary>
    public int Step
    {
        get
        {
            if (_ranges.Length == 0 || Count == 1)
            {
                return 1;
            }

            int? step = null;
            int? previous = null;
            foreach (var range in _ranges)
            {
                if (previous is { } p)
                {
                    var gap = range.First - p;
                    if (step is { } s && s != gap)
                    {
                        return 1;
                    }

                    step = gap;
                }

                if (range.Count > 1)
                {
                    if (step is { } s && s != range.Step)
                    {
                        return 1;
                    }

                    step = range.Step;
                }

                previous = range.Last;
            }

            return step ?? 1;
        }
    }

    public static TaskSet Of(params int[] ids) => FromIds(ids);

    public bool Contains(int id) => _ranges.Any(r => r.Contains(id));

    /// <summary>Every id, in ascending order.</summary>
    public IEnumerable<int> Ids()
    {
        foreach (var range in _ranges)
        {
            for (long id = range.First; id <= range.Last; id += range.Step)
            {
                yield return (int)id;
            }
        }
    }

    /// <summary>The first <paramref name="count"/> ids, and the set of those left.</summary>
    public (IReadOnlyList<int> Taken, TaskSet Left) Take(int count)
    {
        var taken = new List<int>(Math.Max(0, Math.Min(count, 1024)));
        var rest = new List<TaskRange>(_ranges.Length);
        foreach (var range in _ranges)
        {
            var left = count - taken.Count;
            if (left <= 0)
            {
                rest.Add(range);
                continue;
            }

            if (range.Count <= left)
            {
                taken.AddRange(Enumerable.Range(0, (int)range.Count).Select(i => range.First + i * range.Step));
                continue;
            }

            taken.AddRange(Enumerable.Range(0, left).Select(i => range.First + i * range.Step));
            rest.Add(range with { First = range.First + left * range.Step });
        }

        return (taken, new TaskSet(rest.Select(Normalize).ToArray()));
    }

    /// <summary>This set without the ids of <paramref name="other"/>.</summary>
    public TaskSet Except(TaskSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.IsEmpty || IsEmpty)
        {
            return this;
        }

        // Ranges are split only where an excluded id falls inside them; untouched ranges stay whole.
        var removedAll = other.Ids().Where(Contains).ToList();
        var result = new List<TaskRange>();
        foreach (var range in _ranges)
        {
            var removed = removedAll.Where(range.Contains).ToList();
            if (removed.Count == 0)
            {
                result.Add(range);
                continue;
            }

            var first = range.First;
            foreach (var id in removed)
            {
                if (id > first)
                {
                    result.Add(Normalize(range with { First = first, Last = id - range.Step }));
                }

                first = id + range.Step;
            }

            if (first <= range.Last)
            {
                result.Add(Normalize(range with { First = first }));
            }
        }

        return new TaskSet(result.ToArray());
    }

    /// <summary>The ids of both sets, with ranges that meet on their step joined: <c>1-7</c> and <c>8-100</c> make <c>1-100</c>.</summary>
    public TaskSet Union(TaskSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var ranges = _ranges.Concat(other._ranges).OrderBy(r => r.First).ToList();
        for (var i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].First <= ranges[i - 1].Last)
            {
                return FromIds(Ids().Concat(other.Ids()));
            }
        }

        var joined = new List<TaskRange>(ranges.Count);
        foreach (var range in ranges)
        {
            if (joined.Count > 0 && joined[^1] is var last)
            {
                var step = last.Count > 1 ? last.Step : range.Count > 1 ? range.Step : range.First - last.Last;
                if ((last.Count == 1 || last.Step == step) && (range.Count == 1 || range.Step == step) && range.First - last.Last == step)
                {
                    joined[^1] = new TaskRange(last.First, range.Last, step);
                    continue;
                }
            }

            joined.Add(range);
        }

        return new TaskSet(joined.ToArray());
    }

    /// <summary>The ids of this set that are also in <paramref name="other"/>.</summary>
    public TaskSet Intersect(TaskSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return FromIds(other.Ids().Where(Contains));
    }

    /// <summary>The set of the given ids, written as the fewest evenly-stepped ranges found in one pass.</summary>
    public static TaskSet FromIds(IEnumerable<int> ids)
    {
        var sorted = ids.Distinct().Order().ToList();
        var ranges = new List<TaskRange>();
        var i = 0;
        while (i < sorted.Count)
        {
            // A run of consecutive ids becomes one range; anything else is one id per range ('1,3,5' stays as given).
            var j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }

            ranges.Add(new TaskRange(sorted[i], sorted[j], 1));
            i = j + 1;
        }

        return new TaskSet(ranges.ToArray());
    }

    /// <summary>Parses Slurm's range syntax, e.g. <c>0-15</c>, <c>0-15:4</c>, <c>1,3,5-7</c>.</summary>
    public static bool TryParse(string? text, out TaskSet set, out string error)
    {
        set = Empty;
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; give task ids such as 1-100, 1-100:2 or 1,3,5-7";
            return false;
        }

        var parts = text.Split(',');
        if (parts.Length > MaxRanges)
        {
            error = $"has more than {MaxRanges} comma-separated parts";
            return false;
        }

        var ranges = new List<TaskRange>(parts.Length);
        foreach (var raw in parts)
        {
            var part = raw.Trim();
            if (!TryParseRange(part, out var range, out error))
            {
                return false;
            }

            ranges.Add(range);
        }

        ranges.Sort((a, b) => a.First.CompareTo(b.First));
        for (var i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].First <= ranges[i - 1].Last)
            {
                // Overlapping ranges (or one id twice) name the same task twice: merged as a set.
                set = FromIds(ranges.SelectMany(r => new TaskSet([r]).Ids()));
                return true;
            }
        }

        set = new TaskSet(ranges.ToArray());
        return true;
    }

    public static TaskSet Parse(string text) =>
        TryParse(text, out var set, out var error) ? set : throw new FormatException($"Task ids '{text}' {error}.");

    private static bool TryParseRange(string part, out TaskRange range, out string error)
    {
        range = default;
        error = "";
        var step = 1;
        var body = part;
        var colon = part.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            if (!TryId(part[(colon + 1)..], out step) || step < 1)
            {
                error = $"'{Shorten(part)}' has step '{Shorten(part[(colon + 1)..])}'; the step must be a whole number of at least 1";
                return false;
            }

            body = part[..colon];
        }

        var dash = body.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            if (!TryId(body, out var single))
            {
                error = $"'{Shorten(part)}' is not a task id: use whole numbers from 0 to {MaxTaskId:N0}";
                return false;
            }

            range = new TaskRange(single, single, 1);
            return true;
        }

        if (!TryId(body[..dash], out var first) || !TryId(body[(dash + 1)..], out var last))
        {
            error = $"'{Shorten(part)}' is not a range of task ids: use FIRST-LAST with whole numbers from 0 to {MaxTaskId:N0}";
            return false;
        }

        if (last < first)
        {
            error = $"'{Shorten(part)}' ends before it starts";
            return false;
        }

        range = Normalize(new TaskRange(first, last, step));
        return true;
    }

    private static bool TryId(string text, out int id)
    {
        id = 0;
        return text.Length is > 0 and <= 9 && text.All(char.IsAsciiDigit) &&
               int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id <= MaxTaskId;
    }

    /// <summary>A range whose last id lies on its step, and whose step is 1 when it holds one id.</summary>
    private static TaskRange Normalize(TaskRange range)
    {
        var last = range.First + (int)(((long)range.Last - range.First) / range.Step * range.Step);
        return last == range.First ? new TaskRange(range.First, range.First, 1) : range with { Last = last };
    }

    private static string Shorten(string s) => s.Length <= 32 ? s : s[..29] + "...";

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var range in _ranges)
        {
            sb.Append(sb.Length == 0 ? "" : ",").Append(range.ToString());
        }

        return sb.ToString();
    }

    public bool Equals(TaskSet? other) => other is not null && _ranges.AsSpan().SequenceEqual(other._ranges);

    public override bool Equals(object? obj) => Equals(obj as TaskSet);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}
