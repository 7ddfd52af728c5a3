using BenchmarkDotNet.Attributes;
using Conductor.Core.Scheduling;

namespace Conductor.Bench.Policy;

/// <summary>One scheduling pass (<see cref="BackfillPolicy.Plan"/>) over a synthetic snapshot.</summary>
[MemoryDiagnoser]
public class PassBenchmarks
{
    private readonly BackfillPolicy _policy = new();
    private readonly DateTimeOffset _now = new(2026, 1, 1, 1, 0, 0, TimeSpan.Zero);
    private SchedulerSnapshot _snapshot = null!;

    [Params(1_000, 10_000, 100_000)]
    public int Pending { get; set; }

    [Params(1, 10, 100)]
    public int Nodes { get; set; }

    [Params(Occupancy.Full, Occupancy.Fits)]
    public Occupancy Occupancy { get; set; }

    [Params(false, true)]
    public bool Gres { get; set; }

    [GlobalSetup]
    public void Setup() => _snapshot = Snapshots.Create(Pending, Nodes, Occupancy, Gres);

    [Benchmark]
    public SchedulingPlan Plan() => _policy.Plan(_snapshot, _now);
}
