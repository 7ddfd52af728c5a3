using Conductor.Core.Nodes;
using Conductor.Server.Api;

namespace Conductor.EndToEnd.Tests;

public sealed class NodeViewTests
{
    [Theory]
    [InlineData(NodeState.Up, "UP", 3)]
    [InlineData(NodeState.Down, "DOWN", 0)]
    [InlineData(NodeState.Drain, "DRAIN", 0)]
    public void From_CountsIdleCpusOnlyOnNodesThatAreUp(NodeState state, string shown, int idle)
    {
        var node = new NodeRecord
        {
            Name = new NodeName("n1"),
            Cpus = 4,
            MemoryMiB = 1024,
            Partitions = ["default"],
            State = state,
            AllocatedCpus = 1,
        };

        var view = NodeView.From(node);

        Assert.Equal(shown, view.State);
        Assert.Equal(idle, view.CpusIdle);
        Assert.Equal(1, view.CpusAllocated);
    }
}
