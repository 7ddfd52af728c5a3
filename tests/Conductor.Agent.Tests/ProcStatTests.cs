using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

public sealed class ProcStatTests
{
    [Fact]
    public void TryParse_ReadsFieldsAfterLastParenthesis_WhenCommandHasSpacesAndParentheses()
    {
        var line = "4242 (my (weird) cmd) S 1 4242 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
            + "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

        Assert.True(ProcStat.TryParse(line, out var stat));
        Assert.Equal(new ProcStat(4242, 'S', 4242, 4240, 987654) { CpuTicks = 3, RssPages = 10, ParentPid = 1 }, stat);
    }

    [Fact]
    public void TryParse_Fails_WhenLineIsTruncated()
    {
        Assert.False(ProcStat.TryParse("12 (x) S 1 2 3", out _));
    }
}
