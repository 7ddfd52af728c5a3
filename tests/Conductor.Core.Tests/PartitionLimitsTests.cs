using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class PartitionLimitsTests
{
    [Fact]
    public void TryParse_ReadsASlurmConfLine()
    {
        Assert.True(PartitionLimits.TryParse("gpu DefaultTime=1:00:00 MaxTime=1-00:00:00 AllowAccounts=physics,chemistry PriorityTier=2 Exclusive=yes", out var p, out _));

        Assert.Equal("gpu", p.Name);
        Assert.Equal(TimeSpan.FromHours(1), p.DefaultTime);
        Assert.Equal(TimeSpan.FromDays(1), p.MaxTime);
        Assert.Equal(["physics", "chemistry"], p.AllowAccounts);
        Assert.Equal(2, p.PriorityTier);
        Assert.True(p.Exclusive);
        Assert.True(p.Allows("physics"));
        Assert.False(p.Allows("biology"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("MaxTime=5")]
    [InlineData("gpu MaxTime=soon")]
    [InlineData("gpu Colour=blue")]
    [InlineData("gpu DefaultTime=10 MaxTime=5")]
    [InlineData("gpu Exclusive=maybe")]
    public void TryParse_SaysWhy_WhenTheLineIsWrong(string line)
    {
        Assert.False(PartitionLimits.TryParse(line, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void Plan_StartsTheHigherTierFirst_WhenPartitionsShareANode()
    {
        var plan = Cluster.Empty()
            .Node("n01", 1, partitions: ["low", "high"])
            .With(PolicyOptions.Default with { PartitionTiers = new Dictionary<string, int> { ["high"] = 2, ["low"] = 1 } })
            .Submit(partition: "low")
            .Submit(partition: "high")
            .Plan();

        plan.AssertStarted(2, "n01").AssertWaiting(1, Jobs.PendingReasons.Resources);
    }
}
