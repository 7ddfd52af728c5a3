using Conductor.Core.Jobs;

namespace Conductor.Core.Tests;

public sealed class JobEfficiencyTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-03-01T10:00:00Z");

    private static JobRecord Job(int cpus, long? memoryMiB, double? cpuSeconds, long? maxRssKiB, TimeSpan elapsed, IReadOnlyList<int>? cores = null) => new()
    {
        Id = new JobId(7),
        Spec = new JobSpec { Name = "j", Account = "a", Partition = "p", CpusPerTask = cpus, MemoryMiB = memoryMiB, WorkDir = "/tmp", StdoutPattern = "slurm-%j.out" },
        State = JobState.Completed,
        SubmitTime = Start,
        StartTime = Start,
        EndTime = Start + elapsed,
        Cores = cores ?? [],
        CpuSeconds = cpuSeconds,
        MaxRssKiB = maxRssKiB,
    };

    [Fact]
    public void Of_IsCpuTimeOverElapsedTimesCpus_AndPeakMemoryOverTheRequest()
    {
        var e = JobEfficiency.Of(Job(cpus: 4, memoryMiB: 1024, cpuSeconds: 30, maxRssKiB: 256 * 1024, TimeSpan.FromSeconds(10)), Start.AddHours(1));
        Assert.Equal(4, e.Cpus);
        Assert.Equal(TimeSpan.FromSeconds(40), e.CoreWalltime);
        Assert.Equal(75.0, e.CpuPercent);
        Assert.Equal(1024 * 1024, e.MemoryRequestedKiB);
        Assert.Equal(25.0, e.MemoryPercent);
    }

    [Fact]
    public void Of_CountsTheCoresTheJobHeld_WhenItHadTheWholeNode()
    {
        var e = JobEfficiency.Of(Job(cpus: 1, memoryMiB: null, cpuSeconds: 10, maxRssKiB: 100, TimeSpan.FromSeconds(10), cores: [0, 1]), Start);
        Assert.Equal(2, e.Cpus);
        Assert.Equal(50.0, e.CpuPercent);
    }

    [Fact]
    public void Of_LeavesFiguresOut_WhenTheirInputsAreUnknown()
    {
        var noUsage = JobEfficiency.Of(Job(cpus: 1, memoryMiB: null, cpuSeconds: null, maxRssKiB: null, TimeSpan.FromSeconds(5)), Start);
        Assert.Null(noUsage.CpuPercent);
        Assert.Null(noUsage.MemoryPercent);
        Assert.Null(noUsage.MemoryRequestedKiB);

        var noTime = JobEfficiency.Of(Job(cpus: 1, memoryMiB: 100, cpuSeconds: 0, maxRssKiB: 10, TimeSpan.Zero), Start);
        Assert.Null(noTime.CpuPercent);
        Assert.Equal(0.01, noTime.MemoryPercent);
    }

    [Fact]
    public void Of_UsesTheTimeSoFar_ForARunningJob()
    {
        var running = Job(cpus: 2, memoryMiB: null, cpuSeconds: 10, maxRssKiB: null, TimeSpan.Zero) with { State = JobState.Running, EndTime = null };
        Assert.Equal(25.0, JobEfficiency.Of(running, Start.AddSeconds(20)).CpuPercent);
    }
}
