using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>A job's identity: a positive 64-bit number, shown to people as a decimal string.</summary>
public readonly record struct JobId(long Value) : IComparable<JobId>
{
    public int CompareTo(JobId other) => Value.CompareTo(other.Value);

    public static bool operator <(JobId left, JobId right) => left.Value < right.Value;

    public static bool operator >(JobId left, JobId right) => left.Value > right.Value;

    public static bool operator <=(JobId left, JobId right) => left.Value <= right.Value;

    public static bool operator >=(JobId left, JobId right) => left.Value >= right.Value;

    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);

    public static bool TryParse(string? text, out JobId id)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            id = new JobId(value);
            return true;
        }

        id = default;
        return false;
    }
}
