using Conductor.Core.Parsing;

namespace Conductor.Core.Tests;

public sealed class MemorySizeTests
{
    [Theory]
    [InlineData("16G", 16384)]
    [InlineData("512M", 512)]
    [InlineData("1024", 1024)]
    [InlineData("1T", 1024 * 1024)]
    [InlineData("2048K", 2)]
    [InlineData("1K", 1)]
    [InlineData("1025K", 2)]
    [InlineData("16g", 16384)]
    [InlineData("512m", 512)]
    [InlineData("1t", 1024 * 1024)]
    [InlineData("2048k", 2)]
    [InlineData(" 1G ", 1024)]
    [InlineData("1024T", MemorySize.MaxMiB)]
    public void TryParseMiB_ReturnsMiB_WhenSizeIsValid(string text, long expected)
    {
        var ok = MemorySize.TryParseMiB(text, out var mib, out var error);

        Assert.True(ok, error);
        Assert.Equal(expected, mib);
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData("16GB")]
    [InlineData("1.5G")]
    [InlineData(" ")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("-1")]
    [InlineData("-1G")]
    [InlineData("0")]
    [InlineData("0G")]
    [InlineData("0K")]
    [InlineData("G")]
    [InlineData("16X")]
    [InlineData("1P")]
    [InlineData("16 G")]
    [InlineData("+16G")]
    [InlineData("1025T")]
    [InlineData("99999999999999999999")]
    public void TryParseMiB_Fails_WhenSizeIsInvalid(string? text)
    {
        var ok = MemorySize.TryParseMiB(text, out var mib, out var error);

        Assert.False(ok);
        Assert.Equal(0, mib);
        Assert.NotEmpty(error);
    }

    [Fact]
    public void TryParseMiB_NamesTheUnit_WhenUnitIsUnknown()
    {
        Assert.False(MemorySize.TryParseMiB("16X", out _, out var error));
        Assert.Contains("unknown unit 'X'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseMiB_Throws_WhenSizeIsInvalid()
    {
        Assert.Throws<FormatException>(() => MemorySize.ParseMiB("16GB"));
    }

    [Fact]
    public void ParseMiB_ReturnsMiB_WhenSizeIsValid()
    {
        Assert.Equal(2048, MemorySize.ParseMiB("2G"));
    }

    [Theory]
    [InlineData(16384, "16G")]
    [InlineData(1024, "1G")]
    [InlineData(512, "512M")]
    [InlineData(1536, "1536M")]
    [InlineData(1024 * 1024, "1T")]
    [InlineData(3L * 1024 * 1024, "3T")]
    [InlineData(1, "1M")]
    [InlineData(0, "0M")]
    public void Format_ReturnsLargestWholeUnit_WhenGivenMiB(long mib, string expected)
    {
        Assert.Equal(expected, MemorySize.Format(mib));
    }

    [Theory]
    [InlineData("16G")]
    [InlineData("512M")]
    [InlineData("1T")]
    [InlineData("1536M")]
    public void Format_RoundTripsThroughParse_WhenSizeIsValid(string text)
    {
        Assert.Equal(text, MemorySize.Format(MemorySize.ParseMiB(text)));
    }
}
