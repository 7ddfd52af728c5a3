using System.Globalization;
using System.Text.RegularExpressions;

namespace Conductor.EndToEnd.Tests;

/// <summary>seff's figures in the API, in <c>conductor show</c> and in <c>conductor seff</c>, from a job that really burns CPU and memory.</summary>
[Collection("server")]
public sealed partial class EfficiencyTests(ServerFixture fixture)
{
    [Fact]
    public async Task Seff_PrintsCpuAndMemoryEfficiency_OfAFinishedJob_AsTheApiComputesThem()
    {
        var cli = new Cli(fixture.Server, fixture.NewWorkDir());

        // About 30 MB held in a shell variable through four seconds of busy CPU: longer than the agent's sampling
        // interval, so that its memory is measured (as in Slurm, a job shorter than that may have no MaxRSS).
        var id = await fixture.SubmitAsync(
            "#!/bin/bash\nx=$(head -c 30000000 /dev/zero | tr '\\0' a)\nend=$((SECONDS+4))\nwhile [ $SECONDS -lt $end ]; do :; done\necho ${#x}\n",
            new { cpus_per_task = 1, memory_per_node = "200M", name = "burner" });
        var job = await fixture.WaitForStateAsync(id, TimeSpan.FromSeconds(60), "COMPLETED", "FAILED");
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());

        var efficiency = job["efficiency"]!;
        var cpu = efficiency["cpu_percent"]!.GetValue<double>();
        var memory = efficiency["memory_percent"]!.GetValue<double>();
        Assert.InRange(cpu, 1, 101);
        Assert.InRange(memory, 10, 100);
        Assert.Equal(200 * 1024, efficiency["memory_requested_kib"]!.GetValue<long>());
        var usage = job["usage"]!;
        var elapsed = job["time"]!["elapsed_seconds"]!.GetValue<double>();
        Assert.Equal(Math.Round(usage["cpu_seconds"]!.GetValue<double>() * 100 / elapsed, 2), cpu, 0.01);

        var seff = await cli.RunAsync("seff", id);
        Assert.True(seff.Code == 0, seff.ToString());
        var lines = seff.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"Job ID: {id}", lines[0]);
        Assert.Contains("State: COMPLETED (exit code 0)", lines);
        Assert.Contains("Cores: 1", lines);
        Assert.Contains(lines, l => l == $"CPU Efficiency: {cpu.ToString("0.00", CultureInfo.InvariantCulture)}% of {Hms(elapsed)} core-walltime");
        Assert.Contains(lines, l => l == $"Memory Efficiency: {memory.ToString("0.00", CultureInfo.InvariantCulture)}% of 200.00 MB");
        Assert.Contains(lines, l => MemoryUtilized().IsMatch(l));

        var show = await cli.RunAsync("show", id);
        Assert.True(show.Code == 0, show.ToString());
        Assert.Matches($@"CPUEfficiency\s+{Regex.Escape(cpu.ToString("0.00", CultureInfo.InvariantCulture))}% of", show.Stdout);
        Assert.Matches(@"MemEfficiency\s+\d+\.\d\d% of 200\.00 MB", show.Stdout);
    }

    [Fact]
    public async Task Seff_SaysEfficiencyIsNotAvailable_ForAPendingJob_AndFailsForAnUnknownOne()
    {
        var cli = new Cli(fixture.Server, fixture.NewWorkDir());
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n", new { hold = true });
        var seff = await cli.RunAsync("seff", id);
        Assert.True(seff.Code == 0, seff.ToString());
        Assert.Contains("Efficiency not available for jobs in the PENDING state.", seff.Stdout, StringComparison.Ordinal);

        var missing = await cli.RunAsync("seff", "99999999");
        Assert.Equal(2, missing.Code);
        Assert.Single(missing.Stderr.Trim().Split('\n'));
    }

    private static string Hms(double seconds)
    {
        var t = TimeSpan.FromSeconds((long)seconds);
        return string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours:00}:{t.Minutes:00}:{t.Seconds:00}");
    }

    [GeneratedRegex(@"^Memory Utilized: \d+\.\d\d [KMG]B$")]
    private static partial Regex MemoryUtilized();
}
