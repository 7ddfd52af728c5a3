using Conductor.Core.Parsing;

namespace Conductor.Core.Tests;

public sealed class OutputPatternTests
{
    private static readonly OutputPatternValues Values = new("42", "hello_world", "my_project", "node01");

    [Theory]
    [InlineData("slurm-%j.out")]
    [InlineData("%x.out")]
    [InlineData("%u/%N.log")]
    [InlineData("array-%A_%a.out")]
    [InlineData("100%%.txt")]
    [InlineData("%j-%x-%u-%N-%A-%a-%%")]
    [InlineData("plain.out")]
    [InlineData("/abs/path/%j.out")]
    public void TryValidate_Succeeds_WhenPatternUsesKnownEscapes(string pattern)
    {
        var ok = OutputPattern.TryValidate(pattern, out var error);

        Assert.True(ok, error);
        Assert.Equal("", error);
    }

    [Fact]
    public void TryValidate_Fails_WhenPatternHasUnknownEscape()
    {
        var ok = OutputPattern.TryValidate("out-%q.log", out var error);

        Assert.False(ok);
        Assert.Contains("'%q'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("out%")]
    [InlineData("%")]
    [InlineData("%%%")]
    public void TryValidate_Fails_WhenPatternEndsWithLonePercent(string pattern)
    {
        var ok = OutputPattern.TryValidate(pattern, out var error);

        Assert.False(ok);
        Assert.Contains("trailing '%'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("a\0b")]
    public void TryValidate_Fails_WhenPatternIsEmptyOrHasNul(string? pattern)
    {
        Assert.False(OutputPattern.TryValidate(pattern, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void TryValidate_Fails_WhenPatternIsLongerThan1024()
    {
        Assert.False(OutputPattern.TryValidate(new string('a', 1025), out _));
        Assert.True(OutputPattern.TryValidate(new string('a', 1024), out _));
    }

    [Theory]
    [InlineData("%j", "42")]
    [InlineData("%x", "hello_world")]
    [InlineData("%u", "my_project")]
    [InlineData("%N", "node01")]
    [InlineData("%A", "42")]
    [InlineData("%a", "4294967294")]
    [InlineData("%%", "%")]
    [InlineData("slurm-%j.out", "slurm-42.out")]
    [InlineData("%x-%j.%%", "hello_world-42.%")]
    [InlineData("%%j", "%j")]
    [InlineData("plain", "plain")]
    public void Expand_SubstitutesValue_WhenPatternHasEscape(string pattern, string expected)
    {
        Assert.Equal(expected, OutputPattern.Expand(pattern, Values));
    }

    [Fact]
    public void Expand_UsesArrayValues_WhenGiven()
    {
        var values = Values with { ArrayMasterId = "40", ArrayIndex = "2" };

        Assert.Equal("40_2", OutputPattern.Expand("%A_%a", values));
    }

    [Fact]
    public void Resolve_CombinesWithWorkDir_WhenPatternIsRelative()
    {
        Assert.Equal("/tmp/run/slurm-42.out", OutputPattern.Resolve("slurm-%j.out", Values, "/tmp/run"));
    }

    [Fact]
    public void Resolve_NormalizesPath_WhenRelativePatternHasDotSegments()
    {
        Assert.Equal("/tmp/logs/42.out", OutputPattern.Resolve("../logs/%j.out", Values, "/tmp/run"));
    }

    [Fact]
    public void Resolve_IgnoresWorkDir_WhenPatternIsAbsolute()
    {
        Assert.Equal("/var/log/hello_world.out", OutputPattern.Resolve("/var/log/%x.out", Values, "/tmp/run"));
    }
}
