namespace Conductor.EndToEnd.Tests.Slurm;

/// <summary>
/// Slurm's formats for GPU jobs, arrays and requeuehold against a fresh server with two GPUs, compared with golden
/// files checked against a real Slurm 22.05 (a node with <c>Gres=gpu:2</c>); every command also runs on the managed
/// build, which must print byte for byte what the launchers' build prints.
/// </summary>
public sealed class SlurmGpuArrayFormatsTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Commands_PrintSlurmsFormats_ForGpuJobsArraysAndARequeuedHeldJob()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "4", "--memory", "4G", "--gres", "gpu:2", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "gpu-arrays");
        Directory.CreateDirectory(work);
        var sh = await SlurmShell.CreateAsync(server, work);
        var managed = sh.Managed();

        // Job 1 is an array of four tasks, two at a time: tasks 1 and 2 start as jobs 2 and 3.
        Assert.Equal("1\n", await sh.OutputAsync("sbatch --parsable -A labuser -J arr --array=1-4%2 -o /dev/null --wrap 'sleep 300'"));
        await Poll.UntilAsync(() => sh.OutputAsync("squeue -h -t R -o %i"), s => s == "1_1\n1_2\n", Soon, "two tasks to run");
        Assert.Equal("4\n", await sh.OutputAsync("sbatch --parsable -A labuser -J gpus --gres=gpu:2 -o /dev/null --wrap 'sleep 300'"));
        Assert.Equal("5\n", await sh.OutputAsync("sbatch --parsable -A labuser -J held -H --gres=gpu:1 -t 10 -o /dev/null --wrap true"));
        Assert.Equal("6\n", await sh.OutputAsync("sbatch --parsable -A labuser -J done -o /dev/null --wrap true"));
        await Poll.UntilAsync(() => sh.OutputAsync("squeue -h -t all -j 4,6 -o %T"), s => s == "COMPLETED\nRUNNING\n", Soon, "job 4 to run and 6 to end");

        // requeuehold puts the ended job back, held with Slurm's description for the reason; release frees it.
        Assert.Equal("", await sh.OutputAsync("scontrol requeuehold 6"));
        await Golden(sh, managed, "squeue -h -j 5,6 -o '%i %T %r %R %Q'", "squeue-requeuehold.txt");
        Assert.Contains("JobState=PENDING Reason=job_requeued_in_held_state ", await sh.OutputAsync("scontrol show job 6"), StringComparison.Ordinal);
        Assert.Equal("Job is pending execution for job 6\n", (await sh.RunAsync("scontrol requeuehold 6")).Stderr);
        Assert.Equal("", await sh.OutputAsync("scontrol release 6"));
        await Poll.UntilAsync(() => sh.OutputAsync("sacct -n -X -P -j 6 --format=State"), s => s == "COMPLETED\n", Soon, "the released job to run again");

        // scancel passes quietly over a job that has ended and an id it does not know, as Slurm's does; -v says why.
        Assert.Equal(new Cli.Result(0, "", ""), await sh.RunAsync("scancel 6 999999"));
        Assert.Equal(
            new Cli.Result(0, "", "scancel: Terminating job 6\nscancel: error: Kill job error on job id 6: Job/step already completing or completed\n"
                + "scancel: Terminating job 999999\nscancel: error: Kill job error on job id 999999: Invalid job id specified\n"),
            await sh.RunAsync("scancel -v 6 999999"));

        await Golden(sh, managed, "squeue -o '%.10i %.5A %.12F %.13K %.2t %.4j %b %R'", "squeue-arrays-gres.txt");
        await Golden(sh, managed, "squeue -r -O 'JobID:6,JobArrayID:10,ArrayJobID:13,ArrayTaskID:14,tres-per-node:14,tres-per-job:13,tres-alloc:40'", "squeue-r-O.txt");
        await Golden(sh, managed, "squeue -j 1 -o %i", "squeue-j-array.txt");
        await Golden(sh, managed, "scontrol show job 5", "scontrol-show-job-gpus.txt");
        await Golden(sh, managed, "scontrol show job 1 | grep JobId=", "scontrol-show-job-array.txt");
        await Golden(sh, managed, "scontrol -d show job 4 | grep -A1 JOB_GRES", "scontrol-job-gres.txt");
        await Golden(sh, managed, "scontrol -d show node", "scontrol-show-node-gres.txt");
        await Golden(sh, managed, "sinfo -N -o '%N %G %b'; scontrol show partition | grep TRES=", "sinfo-gres.txt");
    }

    private static async Task Golden(SlurmShell sh, SlurmShell managed, string commandLine, string file)
    {
        var expected = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Slurm", "golden", file));
        var actual = sh.Normalize(await sh.OutputAsync(commandLine));
        Assert.True(expected == actual, $"{commandLine} printed\n{actual.Replace(' ', '·')}\nwhere Slurm prints ({file})\n{expected.Replace(' ', '·')}");
        Assert.Equal(actual, sh.Normalize(await managed.OutputAsync(commandLine)));
    }
}
