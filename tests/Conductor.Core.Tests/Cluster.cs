using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

/// <summary>
/// Builds a <see cref="SchedulerSnapshot"/> scenario step by step and plans it with <see cref="BackfillPolicy"/>:
/// nodes (with GPUs), jobs already running until some time, jobs submitted with time limits and GPU requests.
/// </summary>
/// <example>
/// <code>
/// Cluster.WithNodes(2)
///     .Running("n01", [0], endsIn: "1:00")
///     .Submit(cpus: 2, time: "1:00")   // waits for the running job: reserved at +1:00
///     .Submit(cpus: 1, time: "0:20")   // ends before the reservation: starts now
///     .Plan();
/// </code>
/// </example>
internal sealed class Cluster
{
    public const long DefaultNodeMemoryMiB = 64 * 1024;

    /// <summary>The submit time of the first job; each later job is submitted one second after the previous one.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 31, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The time a plan is made at unless a test says otherwise.</summary>
    public static readonly DateTimeOffset Now = Epoch.AddHours(1);

    private readonly List<NodeSnapshot> _nodes = [];
    private readonly List<PendingJob> _pending = [];
    private readonly Dictionary<string, double> _usage = new(StringComparer.Ordinal);
    private PolicyOptions _options = PolicyOptions.Default;
    private long _nextJobId = 1;
    private long _nextRunningId = 1000;

    /// <summary>Up nodes n01, n02, ... in partition "default", with the given CPU counts and 64G each.</summary>
    public static Cluster WithNodes(params int[] cpus)
    {
        var cluster = new Cluster();
        for (var i = 0; i < cpus.Length; i++)
        {
            cluster.Node($"n{i + 1:00}", cpus[i]);
        }

        return cluster;
    }

    public static Cluster Empty() => new();

    public Cluster Node(
        string name, int cpus, long memoryMiB = DefaultNodeMemoryMiB, NodeState state = NodeState.Up, string? gres = null, bool drained = false, params string[] partitions)
    {
        _nodes.Add(new NodeSnapshot(
            new NodeName(name), cpus, memoryMiB, partitions.Length == 0 ? ["default"] : partitions, state, [], GresList.Parse(gres), drained));
        return this;
    }

    /// <summary>Up nodes n01, n02, ... with the given CPU count and generic resources each (<c>gpu:2</c>).</summary>
    public static Cluster WithGpuNodes(int count, int cpus, string gres)
    {
        var cluster = new Cluster();
        for (var i = 0; i < count; i++)
        {
            cluster.Node($"n{i + 1:00}", cpus, gres: gres);
        }

        return cluster;
    }

    /// <summary>
    /// Marks a job as already running on a node, holding the given cores, memory and GPUs, expected to end
    /// <paramref name="endsIn"/> from now (a Slurm time such as <c>1:00</c>; null: no time limit).
    /// </summary>
    public Cluster Running(string node, int[] cores, long memoryMiB = 0, bool exclusive = false, string? endsIn = null, int[]? gpus = null, string account = "acct")
    {
        var index = _nodes.FindIndex(n => n.Name.Value == node);
        if (index < 0)
        {
            throw new InvalidOperationException($"No node {node} in the scenario.");
        }

        var allocation = new RunningAllocation(
            new JobId(_nextRunningId++),
            cores,
            memoryMiB,
            exclusive,
            endsIn is null ? null : Now + Duration(endsIn),
            gpus?.Select(g => new GresDevice(GresDevice.Gpu, g)).ToArray(),
            account,
            Now.AddMinutes(-1));
        _nodes[index] = _nodes[index] with { Allocations = [.. _nodes[index].Allocations, allocation] };
        return this;
    }

    /// <summary>Adds a pending job; ids are 1, 2, 3, ... in submission order. <paramref name="time"/> is its limit in Slurm's format.</summary>
    public Cluster Submit(
        int cpus = 1,
        long memoryMiB = 0,
        bool exclusive = false,
        int nice = 0,
        string partition = "default",
        bool held = false,
        DateTimeOffset? begin = null,
        string? reason = null,
        DateTimeOffset? submitTime = null,
        string? time = null,
        string? gres = null,
        string account = "acct")
    {
        var id = _nextJobId++;
        _pending.Add(new PendingJob(
            new JobId(id),
            Priority: -nice,
            SubmitTime: submitTime ?? Epoch.AddSeconds(id),
            partition,
            cpus,
            memoryMiB,
            exclusive,
            held,
            begin,
            TimeLimit: time is null ? null : Duration(time),
            reason,
            account,
            GresList.Parse(gres)));
        return this;
    }

    /// <summary>Past usage of an account in weighted CPU-seconds, as the fair-share ledger gives it.</summary>
    public Cluster Used(string account, double cpuSeconds)
    {
        _usage[account] = cpuSeconds;
        return this;
    }

    public Cluster With(PolicyOptions options)
    {
        _options = options;
        return this;
    }

    public SchedulerSnapshot Snapshot() => new([.. _pending], [.. _nodes], new Dictionary<string, double>(_usage, StringComparer.Ordinal));

    public PlanResult Plan() => Plan(Now);

    public PlanResult Plan(DateTimeOffset now) => new(new BackfillPolicy(_options).Plan(Snapshot(), now));

    public static TimeSpan Duration(string slurmTime) =>
        TimeLimitFormat.Parse(slurmTime) ?? throw new ArgumentException($"{slurmTime} is unlimited", nameof(slurmTime));
}

/// <summary>A plan with assertion helpers keyed by job id.</summary>
internal sealed class PlanResult(SchedulingPlan plan)
{
    public SchedulingPlan Plan { get; } = plan;

    public IReadOnlyList<long> StartedIds => [.. Plan.Starts.Select(s => s.JobId.Value)];

    public JobStart Start(long jobId)
    {
        var start = Plan.Starts.SingleOrDefault(s => s.JobId.Value == jobId);
        Assert.True(start is not null, $"job {jobId} was expected to start; started: [{string.Join(", ", StartedIds)}]");
        return start;
    }

    public PlanResult AssertStarted(long jobId, string node, params int[] cores)
    {
        var start = Start(jobId);
        Assert.Equal(node, start.Node.Value);
        if (cores.Length > 0)
        {
            Assert.Equal(cores, start.Cores);
        }

        return this;
    }

    /// <summary>Asserts the job started and got exactly these GPUs.</summary>
    public PlanResult AssertGpus(long jobId, params int[] gpus)
    {
        Assert.Equal(gpus, Start(jobId).GresDevices.Where(d => d.Name == GresDevice.Gpu).Select(d => d.Index));
        return this;
    }

    public PlanResult AssertNotStarted(long jobId)
    {
        Assert.DoesNotContain(jobId, StartedIds);
        return this;
    }

    /// <summary>The reason the plan sets for the job, or null when the plan leaves its reason alone.</summary>
    public string? ReasonChange(long jobId) =>
        Plan.ReasonChanges.SingleOrDefault(r => r.JobId.Value == jobId)?.Reason;

    public PlanResult AssertWaiting(long jobId, string reason)
    {
        AssertNotStarted(jobId);
        Assert.Equal(reason, ReasonChange(jobId));
        return this;
    }

    /// <summary>Asserts the job is reserved to start <paramref name="after"/> (Slurm time) from now, on the given node if named.</summary>
    public PlanResult AssertExpectedStart(long jobId, string after, string? node = null)
    {
        var reservation = Plan.ExpectedStarts.SingleOrDefault(r => r.JobId.Value == jobId);
        Assert.True(reservation is not null, $"job {jobId} has no expected start");
        Assert.Equal(Cluster.Now + Cluster.Duration(after), reservation.Time);
        if (node is not null)
        {
            Assert.Equal(node, reservation.Node.Value);
        }

        return this;
    }

    public PlanResult AssertNoExpectedStart(long jobId)
    {
        Assert.DoesNotContain(jobId, Plan.ExpectedStarts.Select(r => r.JobId.Value));
        return this;
    }
}
