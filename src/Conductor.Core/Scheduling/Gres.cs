using System.Globalization;

namespace Conductor.Core.Scheduling;

/// <summary>
/// A count of one generic resource (Slurm's GRES): <c>gpu:2</c> (any type) or <c>gpu:a100:4</c> (one type). A node
/// declares what it has with a list of these, a job asks with one.
/// </summary>
public sealed record GresItem(string Name, string? Type, int Count)
{
    public override string ToString() =>
        Type is null ? $"{Name}:{Count.ToString(CultureInfo.InvariantCulture)}" : $"{Name}:{Type}:{Count.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// A list of generic resources: what a node has (<c>gpu:a100:4,gpu:t4:2</c>) or what a job asks for (<c>gpu:2</c>).
/// The empty list is the common case and costs nothing.
/// </summary>
public sealed class GresList : IEquatable<GresList>
{
    public static GresList None { get; } = new([]);

    private GresList(IReadOnlyList<GresItem> items) => Items = items;

    public IReadOnlyList<GresItem> Items { get; }

    public bool IsEmpty => Items.Count == 0;

    /// <summary>How many of the named resource the list holds, every type included.</summary>
    public int Count(string name)
    {
        var n = 0;
        foreach (var item in Items)
        {
            if (item.Name == name)
            {
                n += item.Count;
            }
        }

        return n;
    }

    public int Gpus => Count(GresDevice.Gpu);

    /// <summary>Merges equal name-and-type entries and orders by name, then type (untyped last): one spelling per list.</summary>
    public static GresList Of(IEnumerable<GresItem> items)
    {
        var merged = items
            .Where(i => i.Count > 0)
            .GroupBy(i => (i.Name, i.Type))
            .Select(g => new GresItem(g.Key.Name, g.Key.Type, g.Sum(i => i.Count)))
            .OrderBy(i => i.Name, StringComparer.Ordinal)
            .ThenBy(i => i.Type is null ? 1 : 0)
            .ThenBy(i => i.Type, StringComparer.Ordinal)
            .ToArray();
        return merged.Length == 0 ? None : new GresList(merged);
    }

    /// <summary>Parses Slurm's form: <c>gpu</c>, <c>gpu:2</c>, <c>gpu:a100:1</c>, comma-separated; empty or null is none.</summary>
    public static bool TryParse(string? text, out GresList gres, out string? error)
    {
        gres = None;
        error = null;
        if (string.IsNullOrWhiteSpace(text) || text.Trim() is "none" or "(null)")
        {
            return true;
        }

        var items = new List<GresItem>();
        foreach (var raw in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var parts = raw.Split(':');
            if (parts.Length is < 1 or > 3 || !IsName(parts[0]))
            {
                error = $"'{raw}' is not a generic resource: write name[:type][:count], e.g. gpu:2 or gpu:a100:1";
                return false;
            }

            string? type = null;
            var count = 1;
            if (parts.Length == 3)
            {
                type = parts[1];
                if (!IsType(type) || !TryCount(parts[2], out count))
                {
                    error = $"'{raw}' is not a generic resource: write name:type:count with a count of at least 1, e.g. gpu:a100:1";
                    return false;
                }
            }
            else if (parts.Length == 2)
            {
                if (!TryCount(parts[1], out count))
                {
                    if (!IsType(parts[1]) || char.IsAsciiDigit(parts[1][0]))
                    {
                        error = $"'{raw}' is not a generic resource: the count must be a whole number of at least 1";
                        return false;
                    }

                    type = parts[1];
                    count = 1;
                }
            }

            items.Add(new GresItem(parts[0], type, count));
        }

        gres = Of(items);
        return true;
    }

    /// <summary>
    /// The GPUs a machine has, from the names of its device files: one per <c>nvidia&lt;N&gt;</c> (not nvidiactl,
    /// nvidia-uvm, ...), as <c>gpu:count</c>.
    /// </summary>
    public static GresList FromNvidiaDevices(IEnumerable<string?> deviceNames)
    {
        var count = deviceNames.Count(n => n is { Length: > 6 } && n.StartsWith("nvidia", StringComparison.Ordinal) && n[6..].All(char.IsAsciiDigit));
        return count == 0 ? None : Of([new GresItem(GresDevice.Gpu, null, count)]);
    }

    public static GresList Parse(string? text) =>
        TryParse(text, out var gres, out var error) ? gres : throw new FormatException(error);

    /// <summary>The same list with every count multiplied (a per-task request times the tasks).</summary>
    public GresList Times(int factor) => factor == 1 ? this : Of(Items.Select(i => i with { Count = i.Count * factor }));

    public GresList Plus(GresList other) => other.IsEmpty ? this : IsEmpty ? other : Of(Items.Concat(other.Items));

    /// <summary>
    /// Whether a node with this list could ever hold <paramref name="request"/>: every typed ask within that type's
    /// count, and every name's asks in all within the name's count.
    /// </summary>
    public bool Covers(GresList request)
    {
        foreach (var ask in request.Items)
        {
            var have = ask.Type is null ? Count(ask.Name) : Items.Where(i => i.Name == ask.Name && i.Type == ask.Type).Sum(i => i.Count);
            var need = ask.Type is null ? request.Count(ask.Name) : ask.Count;
            if (need > have)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The node's devices, numbered per name in declaration order as the list holds them: <c>gpu:a100:2,gpu:t4:1</c>
    /// is gpu 0 and 1 (a100) and gpu 2 (t4).
    /// </summary>
    public IReadOnlyList<(GresDevice Device, string? Type)> Devices()
    {
        var devices = new List<(GresDevice, string?)>();
        var next = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in Items)
        {
            next.TryGetValue(item.Name, out var index);
            for (var i = 0; i < item.Count; i++)
            {
                devices.Add((new GresDevice(item.Name, index++), item.Type));
            }

            next[item.Name] = index;
        }

        return devices;
    }

    public override string ToString() => string.Join(',', Items);

    public bool Equals(GresList? other) => other is not null && Items.SequenceEqual(other.Items);

    public override bool Equals(object? obj) => Equals(obj as GresList);

    public override int GetHashCode() => Items.Count == 0 ? 0 : HashCode.Combine(Items.Count, Items[0]);

    private static bool IsName(string s) =>
        s.Length is > 0 and <= 32 && char.IsAsciiLetterLower(s[0]) && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    private static bool IsType(string s) =>
        s.Length is > 0 and <= 32 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    private static bool TryCount(string s, out int count) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out count) && count is >= 1 and <= 1_000_000;
}

/// <summary>One device of a node: <c>gpu</c> number 3. The number is what <c>CUDA_VISIBLE_DEVICES</c> lists.</summary>
public readonly record struct GresDevice(string Name, int Index)
{
    public const string Gpu = "gpu";

    public override string ToString() => $"{Name}:{Index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Writes devices as <c>gpu:0,gpu:1</c>; none is the empty string.</summary>
    public static string Format(IReadOnlyList<GresDevice> devices) => string.Join(',', devices);

    public static IReadOnlyList<GresDevice> ParseList(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return [];
        }

        var parts = text.Split(',');
        var devices = new GresDevice[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            var colon = parts[i].LastIndexOf(':');
            devices[i] = new GresDevice(parts[i][..colon], int.Parse(parts[i].AsSpan(colon + 1), CultureInfo.InvariantCulture));
        }

        return devices;
    }

    /// <summary>The indices of the devices of one name, comma-separated, as <c>CUDA_VISIBLE_DEVICES</c> wants them.</summary>
    public static string Indices(IReadOnlyList<GresDevice> devices, string name = Gpu) =>
        string.Join(',', devices.Where(d => d.Name == name).Select(d => d.Index.ToString(CultureInfo.InvariantCulture)));
}
