using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

/// <summary>Builds a <see cref="SchedulerSnapshot"/> scenario step by step and plans it with <see cref="FirstFitPolicy"/>.</summary>
internal sealed class Cluster
{
    public const long DefaultNodeMemoryMiB = 64 * 1024;

    /// <summary>The submit time of the first job; each later job is submitted one second after the previous one.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 31, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The time a plan is made at unless a test says otherwise.</summary>
    public static readonly DateTimeOffset Now = Epoch.AddHours(1);

    private readonly List<NodeSnapshot> _nodes = [];
    private readonly List<PendingJob> _pending = [];
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

    public Cluster Node(string name, int cpus, long memoryMiB = DefaultNodeMemoryMiB, NodeState state = NodeState.Up, params string[] partitions)
    {
        _nodes.Add(new NodeSnapshot(new NodeName(name), cpus, memoryMiB, partitions.Length == 0 ? ["default"] : partitions, state, []));
        return this;
    }

    /// <summary>Marks a job as already running on a node, holding the given cores and memory.</summary>
    public Cluster Running(string node, int[] cores, long memoryMiB = 0, bool exclusive = false)
    {
        var index = _nodes.FindIndex(n => n.Name.Value == node);
        if (index < 0)
        {
            throw new InvalidOperationException($"No node {node} in the scenario.");
        }

        var allocation = new RunningAllocation(new JobId(_nextRunningId++), cores, memoryMiB, exclusive);
        _nodes[index] = _nodes[index] with { Allocations = [.. _nodes[index].Allocations, allocation] };
        return this;
    }

    /// <summary>Adds a pending job; ids are 1, 2, 3, ... in submission order.</summary>
    public Cluster Submit(
        int cpus = 1,
        long memoryMiB = 0,
        bool exclusive = false,
        int nice = 0,
        string partition = "default",
        bool held = false,
        DateTimeOffset? begin = null,
        string? reason = null,
        DateTimeOffset? submitTime = null)
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
            TimeLimit: null,
            reason));
        return this;
    }

    public SchedulerSnapshot Snapshot() => new([.. _pending], [.. _nodes]);

    public PlanResult Plan() => Plan(Now);

    public PlanResult Plan(DateTimeOffset now) => new(new FirstFitPolicy().Plan(Snapshot(), now));
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
}
