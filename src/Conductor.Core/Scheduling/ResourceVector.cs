namespace Conductor.Core.Scheduling;

/// <summary>
/// CPUs, memory and counts of generic resources: the one measure every fit question compares. Generic resources
/// live in slots numbered by a <see cref="GresSlots"/> of the pass: one slot per name (every type counted) and one
/// per name and type, so "gpu:2" and "gpu:a100:1" are both plain comparisons.
/// </summary>
public readonly record struct ResourceVector(int Cpus, long MemoryMiB, int[]? Gres = null)
{
    public static ResourceVector Zero { get; } = new(0, 0);

    /// <summary>True when every component of this vector, added to <paramref name="used"/>, stays within <paramref name="capacity"/>.</summary>
    public bool FitsBeside(in ResourceVector used, in ResourceVector capacity)
    {
        if (used.Cpus + Cpus > capacity.Cpus || used.MemoryMiB + MemoryMiB > capacity.MemoryMiB)
        {
            return false;
        }

        if (Gres is null)
        {
            return true;
        }

        for (var i = 0; i < Gres.Length; i++)
        {
            if (Gres[i] == 0)
            {
                continue;
            }

            var have = capacity.Gres is { } c && i < c.Length ? c[i] : 0;
            var taken = used.Gres is { } u && i < u.Length ? u[i] : 0;
            if (taken + Gres[i] > have)
            {
                return false;
            }
        }

        return true;
    }

    public ResourceVector Plus(in ResourceVector other) =>
        new(Cpus + other.Cpus, MemoryMiB + other.MemoryMiB, Combine(Gres, other.Gres, 1));

    public ResourceVector Minus(in ResourceVector other) =>
        new(Cpus - other.Cpus, MemoryMiB - other.MemoryMiB, Combine(Gres, other.Gres, -1));

    /// <summary>The larger of the two in every component.</summary>
    public ResourceVector Max(in ResourceVector other)
    {
        int[]? gres = null;
        if (Gres is not null || other.Gres is not null)
        {
            gres = new int[Math.Max(Gres?.Length ?? 0, other.Gres?.Length ?? 0)];
            for (var i = 0; i < gres.Length; i++)
            {
                gres[i] = Math.Max(Gres is { } a && i < a.Length ? a[i] : 0, other.Gres is { } b && i < b.Length ? b[i] : 0);
            }
        }

        return new(Math.Max(Cpus, other.Cpus), Math.Max(MemoryMiB, other.MemoryMiB), gres);
    }

    private static int[]? Combine(int[]? a, int[]? b, int sign)
    {
        if (b is null)
        {
            return a;
        }

        var result = new int[Math.Max(a?.Length ?? 0, b.Length)];
        a?.CopyTo(result, 0);
        for (var i = 0; i < b.Length; i++)
        {
            result[i] += sign * b[i];
        }

        return result;
    }
}

/// <summary>Numbers the generic-resource slots of one pass: one per name, one per name and type.</summary>
public sealed class GresSlots
{
    private readonly Dictionary<(string Name, string? Type), int> _slots = [];

    public int Count => _slots.Count;

    /// <summary>Registers what a node declares.</summary>
    public void Declare(GresList gres)
    {
        foreach (var item in gres.Items)
        {
            Slot(item.Name, null, create: true);
            if (item.Type is not null)
            {
                Slot(item.Name, item.Type, create: true);
            }
        }
    }

    /// <summary>A node's capacity or a job's request as slot counts (null for none); false when it names a resource no node declares.</summary>
    public bool TryVector(GresList gres, out int[]? vector)
    {
        vector = null;
        if (gres.IsEmpty)
        {
            return true;
        }

        var counts = new int[_slots.Count];
        foreach (var item in gres.Items)
        {
            var total = Slot(item.Name, null, create: false);
            if (total < 0)
            {
                return false;
            }

            counts[total] += item.Count;
            if (item.Type is not null)
            {
                var typed = Slot(item.Name, item.Type, create: false);
                if (typed < 0)
                {
                    return false;
                }

                counts[typed] += item.Count;
            }
        }

        vector = counts;
        return true;
    }

    /// <summary>The slots one device of the given name and type fills.</summary>
    public void Add(int[] vector, string name, string? type)
    {
        var total = Slot(name, null, create: false);
        if (total >= 0)
        {
            vector[total]++;
        }

        if (type is not null && Slot(name, type, create: false) is var typed and >= 0)
        {
            vector[typed]++;
        }
    }

    private int Slot(string name, string? type, bool create)
    {
        if (_slots.TryGetValue((name, type), out var slot))
        {
            return slot;
        }

        if (!create)
        {
            return -1;
        }

        slot = _slots.Count;
        _slots[(name, type)] = slot;
        return slot;
    }
}
