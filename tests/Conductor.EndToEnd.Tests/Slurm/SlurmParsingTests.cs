using Conductor.Cli.Slurm;

namespace Conductor.EndToEnd.Tests.Slurm;

/// <summary>The pure parts of the Slurm commands: getopt-style arguments, formats, hostlists and times.</summary>
public sealed class SlurmParsingTests
{
    private static readonly SlurmOption[] Options =
    [
        new("noheader", 'h'), new("long", 'l'), new("format", 'o', ValueKind.Required), new("jobs", 'j', ValueKind.Optional),
        new("nice", null, ValueKind.Optional), new("qos", 'q', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("partition", 'p', ValueKind.Required), new("parsable"),
    ];

    [Fact]
    public void Parse_ReadsArgumentsAsGetoptLongDoes()
    {
        var parsed = SlurmArguments.Parse("squeue", ["-hl", "-o%i", "--form", "%j", "-j5", "--jobs=6,7", "--nice", "-p", "batch", "x"], Options, stopAtFirstOperand: false);

        Assert.True(parsed.Has("noheader"));
        Assert.True(parsed.Has("long"));
        Assert.Equal(["%i", "%j"], parsed.Values("format"));
        Assert.Equal("%j", parsed.Value("format"));
        Assert.Equal(["5", "6,7"], parsed.Values("jobs"));
        Assert.Null(parsed.Value("nice"));
        Assert.Equal("batch", parsed.Value("partition"));
        Assert.Equal(["x"], parsed.Operands);
    }

    [Fact]
    public void Parse_StopsAtTheScript_ForSbatchAndSrun()
    {
        var parsed = SlurmArguments.Parse("sbatch", ["--parsable", "job.sh", "-h", "--long"], Options, stopAtFirstOperand: true);

        Assert.True(parsed.Has("parsable"));
        Assert.False(parsed.Has("noheader"));
        Assert.Equal(["job.sh", "-h", "--long"], parsed.Operands);
    }

    [Theory]
    [InlineData("--bogus", "squeue: unrecognized option '--bogus'")]
    [InlineData("--p", "squeue: option '--p' is ambiguous")]
    [InlineData("-z", "squeue: invalid option -- 'z'")]
    [InlineData("-o", "squeue: option requires an argument -- 'o'")]
    [InlineData("--format", "squeue: option '--format' requires an argument")]
    [InlineData("--long=1", "squeue: option '--long' doesn't allow an argument")]
    [InlineData("-q normal", "squeue: error: -q/--qos is not supported by Conductor")]
    public void Parse_RefusesWithGetoptsWords(string args, string message)
    {
        var e = Assert.Throws<SlurmUsageException>(() => SlurmArguments.Parse("squeue", args.Split(' '), Options, stopAtFirstOperand: false, usageExitCode: 255));

        Assert.Equal(message, e.Message);
        Assert.Equal(255, e.ExitCode);
    }

    [Theory]
    [InlineData(new[] { "node01", "node02", "node03", "node05" }, "node[01-03,05]")]
    [InlineData(new[] { "n1", "n2", "gpu7" }, "n[1-2],gpu7")]
    [InlineData(new[] { "vm" }, "vm")]
    [InlineData(new[] { "a9", "a10", "a11" }, "a[9-11]")]
    public void HostList_CompressesNamesAsSlurmDoes(string[] names, string expected) =>
        Assert.Equal(expected, SlurmFormat.HostList(names));

    [Theory]
    [InlineData(0, "0:00", "00:00:00")]
    [InlineData(65, "1:05", "00:01:05")]
    [InlineData(3600, "1:00:00", "01:00:00")]
    [InlineData(90061, "1-01:01:01", "1-01:01:01")]
    public void Durations_ReadAsSqueueAndScontrolPrintThem(int seconds, string squeue, string scontrol)
    {
        Assert.Equal(squeue, SlurmFormat.Short(TimeSpan.FromSeconds(seconds)));
        Assert.Equal(scontrol, SlurmFormat.Long(TimeSpan.FromSeconds(seconds)));
    }

    [Theory]
    [InlineData("2026-03-01T12:30", "2026-03-01T12:30:00")]
    [InlineData("2026-03-01", "2026-03-01T00:00:00")]
    [InlineData("03/02/26", "2026-03-02T00:00:00")]
    [InlineData("14:15", "2026-03-01T14:15:00")]
    [InlineData("now-2hours", "2026-03-01T08:00:00")]
    [InlineData("midnight", "2026-03-01T00:00:00")]
    public void SlurmTime_ReadsSacctsTimeFormats(string text, string expected)
    {
        var now = new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeZoneInfo.Local.GetUtcOffset(new DateTime(2026, 3, 1, 10, 0, 0)));

        Assert.Equal(expected, SlurmTime.Parse("sacct", text, now).ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void SacctFormat_TakesWidthsAndRefusesUnknownFields()
    {
        var format = Sacct.ParseFormat("sacct", "jobid,JobName%30,State%-5");

        Assert.Equal([("JobID", -12), ("JobName", 30), ("State", -5)], format.Select(f => (f.Field.Name, f.Width)));
        Assert.Equal("sacct: error: Invalid field requested: \"Nope\"", Assert.Throws<SlurmUsageException>(() => Sacct.ParseFormat("sacct", "Nope")).Message);
    }

    [Fact]
    public void SqueueFormat_ReadsPercentCodesWithWidthsAndLiterals()
    {
        var items = JobFormat.ParsePercent("squeue", "%.18i|%9P %j%%");

        Assert.Equal("             JOBID|PARTITION NAME%", JobFormat.Header(items));
    }
}
