using Conductor.Core.Nodes;
using Conductor.Server.Api;

namespace Conductor.EndToEnd.Tests;

public sealed class NodeViewTests
{
    [Theory]
    [InlineData(NodeState.Up, false, 0, "UP", 3)]
    [InlineData(NodeState.Down, false, 0, "DOWN", 0)]
    [InlineData(NodeState.Up, true, 1, "DRAINING", 0)]
    [InlineData(NodeState.Up, true, 0, "DRAINED", 0)]
    [InlineData(NodeState.Down, true, 0, "DOWN", 0)]
    public void From_CountsIdleCpusOnlyOnNodesThatAreUp_AndTellsDrainingFromDrained(NodeState state, bool drained, int running, string shown, int idle)
    {
        var node = new NodeRecord
        {
            Name = new NodeName("n1"),
            Cpus = 4,
            MemoryMiB = 1024,
            Partitions = ["default"],
            State = state,
            AllocatedCpus = 1,
            RunningJobs = running,
            DrainReason = drained ? "disk swap" : null,
        };

        var view = NodeView.From(node);

        Assert.Equal(shown, view.State);
        Assert.Equal(idle, view.CpusIdle);
        Assert.Equal(1, view.CpusAllocated);
    }
}
