using Conductor.Core.Parsing;

namespace Conductor.Core.Tests;

public sealed class TimeLimitFormatTests
{
    [Theory]
    [InlineData("5", 5 * 60)]
    [InlineData("90", 90 * 60)]
    [InlineData("2:30", 150)]
    [InlineData("0:45", 45)]
    [InlineData("1:00:00", 3600)]
    [InlineData("12:34:56", 12 * 3600 + 34 * 60 + 56)]
    [InlineData("2-12", 60 * 3600)]
    [InlineData("1-02:30", 26 * 3600 + 30 * 60)]
    [InlineData("1-00:00:01", 86400 + 1)]
    [InlineData("3-04:05:06", 3 * 86400 + 4 * 3600 + 5 * 60 + 6)]
    [InlineData(" 5 ", 5 * 60)]
    [InlineData("365-00:00:00", 365 * 86400)]
    public void TryParse_ReturnsLimit_WhenSlurmFormIsValid(string text, int expectedSeconds)
    {
        var ok = TimeLimitFormat.TryParse(text, out var limit, out var error);

        Assert.True(ok, error);
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), limit);
        Assert.Equal("", error);
    }

    [Fact]
    public void TryParse_ReadsMinutesAndSeconds_WhenTwoFieldsWithoutDays()
    {
        Assert.True(TimeLimitFormat.TryParse("2:30", out var limit, out _));
        Assert.Equal(TimeSpan.FromMinutes(2.5), limit);
        Assert.NotEqual(TimeSpan.FromHours(2.5), limit);
    }

    [Theory]
    [InlineData("UNLIMITED")]
    [InlineData("unlimited")]
    [InlineData("INFINITE")]
    [InlineData("Infinite")]
    [InlineData("0")]
    [InlineData("0:00")]
    [InlineData("0-00:00:00")]
    public void TryParse_ReturnsNull_WhenUnlimited(string text)
    {
        var ok = TimeLimitFormat.TryParse(text, out var limit, out var error);

        Assert.True(ok, error);
        Assert.Null(limit);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("5:")]
    [InlineData(":5")]
    [InlineData("1:2:3:4")]
    [InlineData("1-2:3:4:5")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    [InlineData("1.5")]
    [InlineData("5m")]
    [InlineData("+5")]
    [InlineData("1-")]
    [InlineData("1-2-3")]
    [InlineData("1234567890")]
    public void TryParse_Fails_WhenTextIsNotATimeLimit(string? text)
    {
        var ok = TimeLimitFormat.TryParse(text, out var limit, out var error);

        Assert.False(ok);
        Assert.Null(limit);
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("366-00")]
    [InlineData("365-00:00:01")]
    [InlineData("525601")]
    [InlineData("9000:00:00")]
    public void TryParse_Fails_WhenLongerThanAYear(string text)
    {
        var ok = TimeLimitFormat.TryParse(text, out var limit, out var error);

        Assert.False(ok);
        Assert.Null(limit);
        Assert.Contains("maximum", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Throws_WhenTextIsInvalid()
    {
        Assert.Throws<FormatException>(() => TimeLimitFormat.Parse("abc"));
    }

    [Fact]
    public void Parse_ReturnsLimit_WhenTextIsValid()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), TimeLimitFormat.Parse("5"));
    }

    [Theory]
    [InlineData(5, "0:05:00")]
    [InlineData(120, "2:00:00")]
    [InlineData(36 * 60, "1-12:00:00")]
    [InlineData(59, "0:59:00")]
    [InlineData(24 * 60, "1-00:00:00")]
    public void Format_ReturnsSlurmLimit_WhenGivenMinutes(int minutes, string expected)
    {
        Assert.Equal(expected, TimeLimitFormat.Format(TimeSpan.FromMinutes(minutes)));
    }

    [Fact]
    public void Format_ReturnsUnlimited_WhenNull()
    {
        Assert.Equal("UNLIMITED", TimeLimitFormat.Format(null));
    }

    [Theory]
    [InlineData("5")]
    [InlineData("2:30")]
    [InlineData("1-12:00:00")]
    [InlineData("UNLIMITED")]
    public void Format_RoundTripsThroughTryParse_WhenLimitIsValid(string text)
    {
        Assert.True(TimeLimitFormat.TryParse(text, out var limit, out _));

        Assert.True(TimeLimitFormat.TryParse(TimeLimitFormat.Format(limit), out var again, out _));
        Assert.Equal(limit, again);
    }

    [Theory]
    [InlineData(0, "0-00:00:00")]
    [InlineData(5, "0-00:00:05")]
    [InlineData(3723, "0-01:02:03")]
    [InlineData(90061, "1-01:01:01")]
    [InlineData(12 * 86400, "12-00:00:00")]
    public void FormatElapsed_ReturnsDaysHoursMinutesSeconds_WhenGivenSeconds(int seconds, string expected)
    {
        Assert.Equal(expected, TimeLimitFormat.FormatElapsed(TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public void FormatElapsed_ReturnsZero_WhenNegative()
    {
        Assert.Equal("0-00:00:00", TimeLimitFormat.FormatElapsed(TimeSpan.FromSeconds(-30)));
    }

    [Theory]
    [InlineData(0, "0:00")]
    [InlineData(5, "0:05")]
    [InlineData(65, "1:05")]
    [InlineData(3599, "59:59")]
    [InlineData(3723, "1:02:03")]
    [InlineData(2 * 86400, "2-00:00:00")]
    [InlineData(86400 + 3661, "1-01:01:01")]
    public void FormatDuration_ReturnsSqueueTime_WhenGivenSeconds(int seconds, string expected)
    {
        Assert.Equal(expected, TimeLimitFormat.FormatDuration(TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public void FormatDuration_ReturnsZero_WhenNegative()
    {
        Assert.Equal("0:00", TimeLimitFormat.FormatDuration(TimeSpan.FromSeconds(-1)));
    }
}
