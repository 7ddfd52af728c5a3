using Conductor.Core.Scheduling;

namespace Conductor.Core.Tests;

public sealed class GresTests
{
    [Theory]
    [InlineData("gpu", "gpu:1")]
    [InlineData("gpu:2", "gpu:2")]
    [InlineData("gpu:a100:1", "gpu:a100:1")]
    [InlineData("gpu:t4:2,gpu:a100:4", "gpu:a100:4,gpu:t4:2")]
    [InlineData("gpu:1,gpu:1", "gpu:2")]
    [InlineData("gpu:a100", "gpu:a100:1")]
    [InlineData("", "")]
    public void TryParse_ReadsSlurmsForm_AndWritesOneSpelling(string text, string expected)
    {
        Assert.True(GresList.TryParse(text, out var gres, out _));
        Assert.Equal(expected, gres.ToString());
    }

    [Theory]
    [InlineData("gpu:0")]
    [InlineData("GPU:1")]
    [InlineData(":1")]
    [InlineData("gpu:a100:0")]
    [InlineData("gpu:1:2:3")]
    public void TryParse_SaysWhy_WhenMalformed(string text)
    {
        Assert.False(GresList.TryParse(text, out _, out var error));
        Assert.Contains(text.Split(',')[0], error, StringComparison.Ordinal);
    }

    [Fact]
    public void Devices_AreNumberedPerNameInDeclarationOrder()
    {
        var devices = GresList.Parse("gpu:a100:2,gpu:t4:1").Devices();

        Assert.Equal(
            [(new GresDevice("gpu", 0), "a100"), (new GresDevice("gpu", 1), "a100"), (new GresDevice("gpu", 2), (string?)"t4")],
            devices);
    }

    [Theory]
    [InlineData("gpu:2", "gpu:a100:2,gpu:t4:1", true)]
    [InlineData("gpu:4", "gpu:a100:2,gpu:t4:1", false)]
    [InlineData("gpu:t4:2", "gpu:a100:2,gpu:t4:1", false)]
    [InlineData("gpu:a100:2,gpu:1", "gpu:a100:2,gpu:t4:1", true)]
    [InlineData("gpu:a100:2,gpu:2", "gpu:a100:2,gpu:t4:1", false)]
    [InlineData("gpu:a100:1", "gpu:4", false)]
    public void Covers_ChecksEachTypeAndEachNameInAll(string request, string node, bool covers)
    {
        Assert.Equal(covers, GresList.Parse(node).Covers(GresList.Parse(request)));
    }

    [Fact]
    public void FromNvidiaDevices_CountsOnlyNumberedDevices()
    {
        var gres = GresList.FromNvidiaDevices(["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "null"]);

        Assert.Equal("gpu:2", gres.ToString());
        Assert.True(GresList.FromNvidiaDevices(["null", "zero"]).IsEmpty);
    }

    [Fact]
    public void DeviceLists_RoundTrip_AndGiveCudaIndices()
    {
        IReadOnlyList<GresDevice> devices = [new("gpu", 0), new("gpu", 3)];

        Assert.Equal("gpu:0,gpu:3", GresDevice.Format(devices));
        Assert.Equal(devices, GresDevice.ParseList("gpu:0,gpu:3"));
        Assert.Equal("0,3", GresDevice.Indices(devices));
    }
}
