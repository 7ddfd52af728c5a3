namespace Conductor.EndToEnd.Tests.Slurm;

/// <summary>
/// How a GPU request is shown in the form it was made (<c>--gpus</c> per job, <c>--gpus-per-task</c>, <c>--gres</c>
/// per node), and a hold put on a running job, against a fresh server with two GPUs; golden files follow Slurm
/// 22.05's formats, and the managed build must print byte for byte what the launchers' build prints.
/// </summary>
public sealed class SlurmGpuRequestFormatsTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Commands_ShowEachGpuRequestInTheFormItWasMade()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "4", "--memory", "4G", "--gres", "gpu:2");
        var work = Path.Combine(server.WorkDirectory, "gpu-requests");
        Directory.CreateDirectory(work);
        var sh = await SlurmShell.CreateAsync(server, work);
        var managed = sh.Managed();

        // Held, so that they stay as submitted.
        Assert.Equal("1\n", await sh.OutputAsync("sbatch --parsable -H -A labuser -J perjob --gpus=2 -o /dev/null --wrap true"));
        Assert.Equal("2\n", await sh.OutputAsync("sbatch --parsable -H -A labuser -J pertask -n 2 --gpus-per-task=1 -o /dev/null --wrap true"));
        Assert.Equal("3\n", await sh.OutputAsync("sbatch --parsable -H -A labuser -J pernode --gres=gpu:1 -o /dev/null --wrap true"));
        Assert.Equal("4\n", await sh.OutputAsync("sbatch --parsable -H -A labuser -J both --gres=gpu:1 --gpus=1 -o /dev/null --wrap true"));

        await Golden(sh, managed, "squeue -o '%i %j %b'", "squeue-gpu-requests.txt");
        await Golden(sh, managed, "squeue -O 'JobID:6,Name:8,tres-per-node:14,tres-per-job:13,tres-per-task:14,tres-alloc:40'", "squeue-O-gpu-requests.txt");
        await Golden(sh, managed, "scontrol show job 2", "scontrol-show-job-gpus-per-task.txt");
        await Golden(sh, managed, "for j in 1 3 4; do scontrol show job $j | grep '^   Tres'; done", "scontrol-tres-per.txt");

        // The JSON keeps the request's form beside the folded list.
        var json = await sh.OutputAsync("squeue --json -j 1");
        Assert.Contains("\"tres_per_job\": \"gres:gpu:2\"", json, StringComparison.Ordinal);
        Assert.Contains("\"tres_per_node\": \"\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hold_OfARunningJob_LeavesItRunning_AndARequeueBringsItBackHeld()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "2G", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "hold-running");
        Directory.CreateDirectory(work);
        var sh = await SlurmShell.CreateAsync(server, work);
        var managed = sh.Managed();

        Assert.Equal("1\n", await sh.OutputAsync("sbatch --parsable -A labuser -J long -o /dev/null --wrap 'sleep 300'"));
        await Poll.UntilAsync(() => sh.OutputAsync("squeue -h -o %T"), s => s == "RUNNING\n", Soon, "the job to run");

        // Silent, as Slurm's: the job runs on, with priority 0.
        Assert.Equal(new Cli.Result(0, "", ""), await sh.RunAsync("scontrol hold 1"));
        Assert.Equal("1 RUNNING 0\n", await sh.OutputAsync("squeue -h -o '%i %T %Q'"));
        Assert.Equal("1 RUNNING 0\n", await managed.OutputAsync("squeue -h -o '%i %T %Q'"));
        Assert.Contains("   Priority=0 Nice=0 ", await sh.OutputAsync("scontrol show job 1"), StringComparison.Ordinal);

        // Requeued, it waits held until released, then runs again.
        Assert.Equal("", await sh.OutputAsync("scontrol requeue 1"));
        await Poll.UntilAsync(() => sh.OutputAsync("squeue -h -o '%i %T %r %Q'"), s => s == "1 PENDING job requeued in held state 0\n", Soon, "the job to come back held");
        Assert.Equal("", await sh.OutputAsync("scontrol release 1"));
        await Poll.UntilAsync(() => sh.OutputAsync("squeue -h -o '%i %T'"), s => s == "1 RUNNING\n", Soon, "the released job to run again");
        Assert.Contains("Restarts=1 ", await sh.OutputAsync("scontrol show job 1"), StringComparison.Ordinal);
        Assert.Equal("", await sh.OutputAsync("scancel 1"));
    }

    private static async Task Golden(SlurmShell sh, SlurmShell managed, string commandLine, string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Slurm", "golden", file);
        var expected = File.Exists(path) ? await File.ReadAllTextAsync(path) : "";
        var actual = sh.Normalize(await sh.OutputAsync(commandLine));
        Assert.True(expected == actual, $"{commandLine} printed\n{actual.Replace(' ', '·')}\nwhere Slurm prints ({file})\n{expected.Replace(' ', '·')}");
        Assert.Equal(actual, sh.Normalize(await managed.OutputAsync(commandLine)));
    }
}
