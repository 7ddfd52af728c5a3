using Conductor.Core.Jobs;

namespace Conductor.Core.Tests;

public sealed class ExitCodeTests
{
    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(3 << 8, 3, 0)]
    [InlineData(255 << 8, 255, 0)]
    [InlineData(9, 0, 9)]
    [InlineData(15, 0, 15)]
    [InlineData(0x80 | 11, 0, 11)]
    public void FromWaitStatus_DecodesCodeAndSignal_WhenGivenStatusWord(int status, int code, int signal)
    {
        Assert.Equal(new ExitCode(code, signal), ExitCode.FromWaitStatus(status));
    }

    [Fact]
    public void FromWaitStatus_IsSuccess_WhenStatusIsZero()
    {
        Assert.True(ExitCode.FromWaitStatus(0).IsSuccess);
        Assert.False(ExitCode.FromWaitStatus(3 << 8).IsSuccess);
        Assert.False(ExitCode.FromWaitStatus(9).IsSuccess);
    }

    [Fact]
    public void Factories_ReturnExpectedPairs_WhenCalled()
    {
        Assert.Equal(new ExitCode(0, 0), ExitCode.Success);
        Assert.Equal(new ExitCode(3, 0), ExitCode.Exited(3));
        Assert.Equal(new ExitCode(0, 9), ExitCode.Killed(9));
    }

    [Theory]
    [InlineData(0, 0, "0:0")]
    [InlineData(3, 0, "3:0")]
    [InlineData(0, 9, "0:9")]
    [InlineData(1, 15, "1:15")]
    public void ToString_ReturnsCodeColonSignal_WhenFormatted(int code, int signal, string expected)
    {
        Assert.Equal(expected, new ExitCode(code, signal).ToString());
    }

    [Theory]
    [InlineData("0:0", 0, 0)]
    [InlineData("3:0", 3, 0)]
    [InlineData("0:9", 0, 9)]
    [InlineData("255:0", 255, 0)]
    public void TryParse_ReturnsExitCode_WhenTextIsCodeColonSignal(string text, int code, int signal)
    {
        Assert.True(ExitCode.TryParse(text, out var exitCode));
        Assert.Equal(new ExitCode(code, signal), exitCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("3")]
    [InlineData(":0")]
    [InlineData("3:")]
    [InlineData("a:b")]
    [InlineData("3:0:1")]
    public void TryParse_Fails_WhenTextIsMalformed(string? text)
    {
        Assert.False(ExitCode.TryParse(text, out var exitCode));
        Assert.Equal(default, exitCode);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(3, 0)]
    [InlineData(0, 9)]
    public void TryParse_RoundTripsToString_WhenValid(int code, int signal)
    {
        var original = new ExitCode(code, signal);

        Assert.True(ExitCode.TryParse(original.ToString(), out var parsed));
        Assert.Equal(original, parsed);
    }
}
