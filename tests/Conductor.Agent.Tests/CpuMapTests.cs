using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class CpuMapTests
{
    [Fact]
    public void CpuMap_MapsCoresOntoAllowedCpus_AndWrapsAround()
    {
        var map = new Conductor.Agent.Resources.CpuMap([2, 3, 5]);

        Assert.Equal([2], map.Map([0]));
        Assert.Equal([3, 5], map.Map([1, 2]));
        Assert.Equal([2, 3], map.Map([3, 1]));
    }
}
