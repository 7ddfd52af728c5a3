using Conductor.Core.Nodes;

namespace Conductor.Core.Scheduling;

/// <summary>
/// One node during a pass: its capacity, what its running jobs hold and until when (their expected ends), and what
/// is reserved on it later for blocked jobs. It answers the three fit questions — can a job ever run here, can it
/// start now without delaying any reservation, and when is the earliest it could start — and hands out the exact
/// cores and devices of a job it starts.
/// </summary>
/// <remarks>
/// Usage over time is piecewise constant: running jobs only end, reservations start and end. So a demand fits over
/// [t0, t1) when it fits at t0 and at every reservation start inside the window; and the earliest start of a demand is
/// now or the end of some running job or reservation.
/// </remarks>
public sealed class NodeTimeline
{
    private readonly bool[] _coreFree;
    private readonly GresDevice[] _devices;
    private readonly string?[] _deviceTypes;
    private readonly bool[] _deviceFree;
    private readonly List<(DateTimeOffset End, ResourceVector Demand)> _running = [];
    private readonly List<(DateTimeOffset Start, DateTimeOffset End, ResourceVector Demand)> _reserved = [];
    private ResourceVector _usedNow = ResourceVector.Zero;
    private int[]? _scratch;

    public NodeTimeline(NodeSnapshot node, GresSlots slots, DateTimeOffset now)
    {
        Node = node;
        slots.TryVector(node.GresTotal, out var gres);
        Capacity = new ResourceVector(node.Cpus, node.MemoryMiB, gres);
        _coreFree = new bool[node.Cpus];
        Array.Fill(_coreFree, true);
        var devices = node.GresTotal.Devices();
        _devices = devices.Select(d => d.Device).ToArray();
        _deviceTypes = devices.Select(d => d.Type).ToArray();
        _deviceFree = new bool[_devices.Length];
        Array.Fill(_deviceFree, true);

        foreach (var allocation in node.Allocations)
        {
            var held = new int[slots.Count];
            foreach (var device in allocation.GresDevices)
            {
                var i = Array.IndexOf(_devices, device);
                if (i >= 0 && _deviceFree[i])
                {
                    _deviceFree[i] = false;
                    slots.Add(held, device.Name, _deviceTypes[i]);
                }
            }

            var cores = 0;
            foreach (var core in allocation.Cores)
            {
                if (core >= 0 && core < _coreFree.Length && _coreFree[core])
                {
                    _coreFree[core] = false;
                }

                cores++;
            }

            // A job that overran its limit is being stopped: its resources are expected back at any moment.
            var end = allocation.ExpectedEnd is { } e && e > now ? e : allocation.ExpectedEnd is null ? DateTimeOffset.MaxValue : now.AddSeconds(1);
            var demand = allocation.Exclusive ? Capacity : new ResourceVector(cores, allocation.MemoryMiB, slots.Count == 0 ? null : held);
            _running.Add((end, demand));
            _usedNow = _usedNow.Plus(demand);
        }
    }

    public NodeSnapshot Node { get; }

    public ResourceVector Capacity { get; }

    /// <summary>The node may be given work: it is up and not drained.</summary>
    public bool IsUp => Node.State == NodeState.Up && !Node.Drained;

    public int FreeCpusNow => Capacity.Cpus - _usedNow.Cpus;

    public long FreeMemoryMiBNow => Capacity.MemoryMiB - _usedNow.MemoryMiB;

    public bool HasReservations => _reserved.Count > 0;

    /// <summary>What a job takes of this node: its own request, or the whole node (and at least its request) when it is exclusive.</summary>
    public ResourceVector Demand(PendingJob job, int[]? gres)
    {
        var own = new ResourceVector(job.Cpus, job.MemoryMiB, gres);
        return job.Exclusive ? own.Max(Capacity) : own;
    }

    /// <summary>Could the demand run here on an empty node?</summary>
    public bool CanEverHold(in ResourceVector demand) => demand.FitsBeside(ResourceVector.Zero, Capacity);

    /// <summary>Can the demand start now and run until <paramref name="end"/> without taking what a reservation needs?</summary>
    public bool CanStartNow(in ResourceVector demand, DateTimeOffset now, DateTimeOffset end) =>
        IsUp && demand.FitsBeside(_usedNow, Capacity) && (_reserved.Count == 0 || FitsBetween(demand, now, end));

    /// <summary>
    /// The earliest time from now at which the demand could start and run for <paramref name="duration"/> (null:
    /// unlimited) beside what runs and what is reserved; null when no time is known (the node is not up, or the
    /// resources it needs are held by jobs without a time limit). Times after <paramref name="notAfter"/> are not tried.
    /// </summary>
    public DateTimeOffset? EarliestStart(in ResourceVector demand, DateTimeOffset now, TimeSpan? duration, DateTimeOffset notAfter)
    {
        if (!IsUp || !CanEverHold(demand))
        {
            return null;
        }

        var candidates = new List<DateTimeOffset>(_running.Count + _reserved.Count + 1) { now };
        foreach (var (end, _) in _running)
        {
            if (end != DateTimeOffset.MaxValue && end > now)
            {
                candidates.Add(end);
            }
        }

        foreach (var (_, end, _) in _reserved)
        {
            if (end != DateTimeOffset.MaxValue && end > now)
            {
                candidates.Add(end);
            }
        }

        candidates.Sort();
        var previous = DateTimeOffset.MinValue;
        foreach (var t in candidates)
        {
            if (t == previous)
            {
                continue;
            }

            if (t > notAfter)
            {
                break;
            }

            previous = t;
            if (FitsBetween(demand, t, EndOf(t, duration)))
            {
                return t;
            }
        }

        return null;
    }

    /// <summary>Takes the lowest-numbered free cores and devices for the job, held until <paramref name="end"/>.</summary>
    public JobStart Start(PendingJob job, in ResourceVector demand, DateTimeOffset end)
    {
        var cores = new int[job.Cpus];
        var n = 0;
        for (var i = 0; i < _coreFree.Length && n < cores.Length; i++)
        {
            if (_coreFree[i])
            {
                _coreFree[i] = false;
                cores[n++] = i;
            }
        }

        IReadOnlyList<GresDevice> devices = [];
        if (!job.GresRequest.IsEmpty)
        {
            var taken = new List<GresDevice>();

            // Typed asks first, so that an untyped ask does not take the only device of a type another ask names.
            foreach (var ask in job.GresRequest.Items.OrderBy(i => i.Type is null ? 1 : 0))
            {
                var left = ask.Count;
                for (var i = 0; i < _devices.Length && left > 0; i++)
                {
                    if (_deviceFree[i] && _devices[i].Name == ask.Name && (ask.Type is null || ask.Type == _deviceTypes[i]))
                    {
                        _deviceFree[i] = false;
                        taken.Add(_devices[i]);
                        left--;
                    }
                }
            }

            taken.Sort((a, b) => a.Name != b.Name ? string.CompareOrdinal(a.Name, b.Name) : a.Index.CompareTo(b.Index));
            devices = taken;
        }

        _running.Add((end, demand));
        _usedNow = _usedNow.Plus(demand);
        return new JobStart(job.Id, Node.Name, cores, job.MemoryMiB, devices);
    }

    /// <summary>Holds the demand from <paramref name="start"/> to <paramref name="end"/> for a blocked job.</summary>
    public void Reserve(in ResourceVector demand, DateTimeOffset start, DateTimeOffset end) => _reserved.Add((start, end, demand));

    public static DateTimeOffset EndOf(DateTimeOffset start, TimeSpan? duration) =>
        duration is not { } d ? DateTimeOffset.MaxValue
        : DateTimeOffset.MaxValue - start <= d ? DateTimeOffset.MaxValue
        : start + d;

    private bool FitsBetween(in ResourceVector demand, DateTimeOffset from, DateTimeOffset to)
    {
        if (!FitsAt(demand, from))
        {
            return false;
        }

        foreach (var (start, _, _) in _reserved)
        {
            if (start > from && start < to && !FitsAt(demand, start))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the demand fits beside everything held at <paramref name="t"/>; sums without allocating.</summary>
    private bool FitsAt(in ResourceVector demand, DateTimeOffset t)
    {
        var cpus = demand.Cpus;
        var memory = demand.MemoryMiB;
        var gres = demand.Gres;
        if (gres is not null)
        {
            _scratch ??= new int[Math.Max(gres.Length, Capacity.Gres?.Length ?? 0)];
            Array.Clear(_scratch);
            gres.CopyTo(_scratch, 0);
        }

        foreach (var (end, held) in _running)
        {
            if (end > t)
            {
                cpus += held.Cpus;
                memory += held.MemoryMiB;
                AddGres(held.Gres, gres is not null);
            }
        }

        foreach (var (start, end, held) in _reserved)
        {
            if (start <= t && t < end)
            {
                cpus += held.Cpus;
                memory += held.MemoryMiB;
                AddGres(held.Gres, gres is not null);
            }
        }

        if (cpus > Capacity.Cpus || memory > Capacity.MemoryMiB)
        {
            return false;
        }

        if (gres is null)
        {
            return true;
        }

        for (var i = 0; i < _scratch!.Length; i++)
        {
            // Only the resources the demand asks for can make it not fit.
            if (i < gres.Length && gres[i] > 0 && _scratch[i] > (Capacity.Gres is { } c && i < c.Length ? c[i] : 0))
            {
                return false;
            }
        }

        return true;
    }

    private void AddGres(int[]? held, bool counting)
    {
        if (!counting || held is null)
        {
            return;
        }

        for (var i = 0; i < held.Length && i < _scratch!.Length; i++)
        {
            _scratch[i] += held[i];
        }
    }
}
