using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class FitCheckTests
{
    private static readonly NodeRecord[] Nodes =
    [
        Node("n01", cpus: 16, memoryMiB: 4096, "default"),
        Node("n02", cpus: 4, memoryMiB: 65536, "default"),
        Node("g01", cpus: 8, memoryMiB: 32768, "gpu", "default"),
    ];

    private static NodeRecord Node(string name, int cpus, long memoryMiB, params string[] partitions) => new()
    {
        Name = new NodeName(name),
        Cpus = cpus,
        MemoryMiB = memoryMiB,
        Partitions = partitions,
        State = NodeState.Up,
    };

    private static JobSpec Spec(string partition = "default", int cpusPerTask = 1, int ntasks = 1, long? memoryMiB = null) => new()
    {
        Name = "job",
        Account = "alice",
        Partition = partition,
        WorkDir = "/tmp",
        CpusPerTask = cpusPerTask,
        Ntasks = ntasks,
        NtasksPerNode = ntasks,
        MemoryMiB = memoryMiB,
    };

    [Fact]
    public void WhyNever_NamesPartitionAndListsKnownOnes_WhenPartitionIsUnknown()
    {
        var why = FitCheck.WhyNever(Spec(partition: "bigmem"), Nodes);

        Assert.NotNull(why);
        Assert.Equal("partition", why.Value.Field);
        Assert.Contains("'bigmem'", why.Value.Message, StringComparison.Ordinal);
        Assert.Contains("default, gpu", why.Value.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhyNever_SaysNoNodeIsRegistered_WhenThereAreNoNodes()
    {
        var why = FitCheck.WhyNever(Spec(), []);

        Assert.NotNull(why);
        Assert.Equal("partition", why.Value.Field);
        Assert.Contains("no node is registered", why.Value.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhyNever_NamesCpusPerTaskAndLargestNode_WhenTooManyCpus()
    {
        var why = FitCheck.WhyNever(Spec(cpusPerTask: 17), Nodes);

        Assert.NotNull(why);
        Assert.Equal("cpus_per_task", why.Value.Field);
        Assert.Contains("17 CPUs", why.Value.Message, StringComparison.Ordinal);
        Assert.Contains("has 16", why.Value.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhyNever_CountsTasksTimesCpus_WhenCheckingCpus()
    {
        var why = FitCheck.WhyNever(Spec(partition: "gpu", cpusPerTask: 3, ntasks: 3), Nodes);

        Assert.NotNull(why);
        Assert.Equal("cpus_per_task", why.Value.Field);
        Assert.Contains("'gpu' has 8", why.Value.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhyNever_NamesMemory_WhenNoNodeWithEnoughCpusHasTheMemory()
    {
        // n02 has the memory but only 4 CPUs; the nodes with 8 CPUs have at most 32G.
        var why = FitCheck.WhyNever(Spec(cpusPerTask: 8, memoryMiB: 40960), Nodes);

        Assert.NotNull(why);
        Assert.Equal("memory_per_node", why.Value.Field);
        Assert.Contains("40G", why.Value.Message, StringComparison.Ordinal);
        Assert.Contains("32G", why.Value.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhyNever_NamesMemory_WhenMoreThanAnyNodeHas()
    {
        var why = FitCheck.WhyNever(Spec(memoryMiB: 65537), Nodes);

        Assert.NotNull(why);
        Assert.Equal("memory_per_node", why.Value.Field);
    }

    [Theory]
    [InlineData("default", 16, null)]
    [InlineData("default", 4, 65536L)]
    [InlineData("default", 8, 32768L)]
    [InlineData("gpu", 8, 32768L)]
    [InlineData("gpu", 1, null)]
    public void WhyNever_ReturnsNull_WhenSomeNodeCanHoldTheJob(string partition, int cpus, long? memoryMiB)
    {
        Assert.Null(FitCheck.WhyNever(Spec(partition, cpusPerTask: cpus, memoryMiB: memoryMiB), Nodes));
    }

    [Fact]
    public void WhyNever_ReturnsNull_WhenOnlyFittingNodeIsDown()
    {
        var nodes = new[] { Node("n01", 8, 8192, "default") with { State = NodeState.Down } };

        Assert.Null(FitCheck.WhyNever(Spec(cpusPerTask: 8), nodes));
    }

    [Fact]
    public void WhyNever_NamesGres_WhenNoNodeHasEnoughGpus()
    {
        var nodes = new[] { Node("g01", 8, 8192, "default") with { Gres = GresList.Parse("gpu:2") } };

        var why = FitCheck.WhyNever(Spec() with { Gres = GresList.Parse("gpu:3") }, nodes);

        Assert.NotNull(why);
        Assert.Equal("gres", why.Value.Field);
        Assert.Contains("gpu:3", why.Value.Message, StringComparison.Ordinal);
        Assert.Contains("gpu:2", why.Value.Message, StringComparison.Ordinal);
        Assert.Null(FitCheck.WhyNever(Spec() with { Gres = GresList.Parse("gpu:2") }, nodes));
    }

    [Fact]
    public void WhyNever_NamesGres_WhenNoNodeHasAny()
    {
        var why = FitCheck.WhyNever(Spec() with { Gres = GresList.Parse("gpu:1") }, Nodes);

        Assert.Equal("gres", why?.Field);
    }
}
