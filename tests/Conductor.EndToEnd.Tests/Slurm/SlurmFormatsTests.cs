namespace Conductor.EndToEnd.Tests.Slurm;

/// <summary>
/// Slurm's commands against a fresh server, their output compared with golden files written as Slurm 22.05 prints
/// the same cluster (its man pages' formats, checked against a real Slurm): the job ids are known because the
/// server is new, and dates are normalised.
/// </summary>
[Collection("server")]
public sealed class SlurmFormatsTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Commands_PrintSlurmsFormats_ForAHeldAFailedAndACompletedJob()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "4G", "--kill-wait", "2s");
        var work = Path.Combine(server.WorkDirectory, "formats");
        Directory.CreateDirectory(work);
        var sh = await SlurmShell.CreateAsync(server, work);

        Assert.Equal("Submitted batch job 1\n", await sh.OutputAsync("sbatch -A labuser -J held -H -t 10 --wrap true"));
        Assert.Equal("2\n", await sh.OutputAsync("sbatch -A labuser --parsable -c 2 --mem=100 -t 1:00 --wrap 'exit 3'"));
        Assert.Equal("Submitted batch job 3\n", await sh.OutputAsync("sbatch -A labuser -J done --wrap true"));
        foreach (var (id, state) in new[] { ("2", "FAILED"), ("3", "COMPLETED") })
        {
            await Poll.UntilAsync(() => sh.OutputAsync($"sacct -n -X -P -j {id} --format=State"), s => s == state + "\n", Soon, $"job {id} to end {state}");
        }

        // The agent has released the last job's CPUs before sinfo looks.
        await Poll.UntilAsync(() => sh.OutputAsync("sinfo -h -o %t"), s => s == "idle\n", Soon, "the node to be idle");

        await Golden(sh, "squeue", "squeue-default.txt");
        await Golden(sh, "squeue -t all -o '%.5i %.8j %.10T %.3t %.10l %.6D %R'", "squeue-format.txt");
        await Golden(sh, "squeue -t all -O 'JobID:6,Name:8,State:.10,Reason'", "squeue-O.txt");
        await Golden(sh, "squeue --start", "squeue-start.txt");
        await Golden(sh, "squeue --states=all --format='%i %t %L %c %m %y %h %o %Z %P %a %C %b'", "squeue-codes.txt");
        Assert.Equal("2 FAILED NonZeroExitCode\n", await sh.OutputAsync("squeue -h -j 2 -t all -o '%i %T %r'"));
        Assert.Equal("1\n", await sh.OutputAsync("squeue --noheader --me -u labuser --name=held -p default -o %i"));

        await Golden(sh, "sacct -j 1,2,3", "sacct-default.txt");
        await Golden(sh, "sacct -X -j 1,2,3", "sacct-X.txt");
        await Golden(sh, "sacct -P -j 1,2,3 --format=JobID,JobName,State,ExitCode,AllocCPUS,ReqMem,NodeList,Timelimit", "sacct-parsable2.txt");
        await Golden(sh, "sacct -p -n -X -j 3 --format=JobIdRaw,State", "sacct-parsable.txt");
        await Golden(sh, "sacct -X -j 1 --format=JobName%-8,State%12", "sacct-widths.txt");

        await Golden(sh, "sinfo", "sinfo-default.txt");
        await Golden(sh, "sinfo -N", "sinfo-N.txt");
        await Golden(sh, "sinfo -h -p default -o '%P %a %l %D %t %N %c %C'", "sinfo-format.txt");

        await Golden(sh, "scontrol show job 1", "scontrol-show-job.txt");
        await Golden(sh, "scontrol -o show job 1", "scontrol-oneliner.txt");
        await Golden(sh, "scontrol show partition", "scontrol-show-partition.txt");
        await Golden(sh, "scontrol show node e2e-node", "scontrol-show-node.txt");

        var squeueJson = System.Text.Json.Nodes.JsonNode.Parse(await sh.OutputAsync("squeue --json"))!;
        var queued = Assert.Single(squeueJson["jobs"]!.AsArray())!;
        Assert.Equal(1, queued["job_id"]!.GetValue<long>());
        Assert.Equal("PENDING", queued["job_state"]!.GetValue<string>());
        Assert.Equal("JobHeldUser", queued["state_reason"]!.GetValue<string>());
        Assert.Equal(10, queued["time_limit"]!.GetValue<long>());
        var sacctJson = System.Text.Json.Nodes.JsonNode.Parse(await sh.OutputAsync("sacct --json -j 2"))!;
        var failed = Assert.Single(sacctJson["jobs"]!.AsArray())!;
        Assert.Equal("FAILED", failed["state"]!["current"]!.GetValue<string>());
        Assert.Equal(3, failed["exit_code"]!["return_code"]!.GetValue<int>());
        Assert.Equal("2.batch", Assert.Single(failed["steps"]!.AsArray())!["step"]!["id"]!.GetValue<string>());

        // sbatch and srun end option errors with 255, as Slurm's do; the other commands with 1.
        Assert.Equal(255, (await sh.RunAsync("sbatch --bogus --wrap true")).Code);
        Assert.Equal(255, (await sh.RunAsync("srun --bogus true")).Code);
        Assert.Equal(1, (await sh.RunAsync("squeue --bogus")).Code);

        Assert.Equal("", await sh.OutputAsync("scancel 1"));
        Assert.Equal("1|CANCELLED\n", await sh.OutputAsync("sacct -P -n -j 1 --format=JobIdRaw,State"));
    }

    [Theory]
    [InlineData("squeue -j 999999", "slurm_load_jobs error: Invalid job id specified")]
    [InlineData("squeue -j abc", "squeue: error: Invalid job id: abc")]
    [InlineData("squeue --bogus", "squeue: unrecognized option '--bogus'")]
    [InlineData("squeue -t XX", "squeue: error: Invalid job state specified: XX")]
    [InlineData("squeue -o '%!'", "squeue: error: Invalid job format specification: %!")]
    [InlineData("sbatch --bogus --wrap true", "sbatch: unrecognized option '--bogus'")]
    [InlineData("sbatch < /dev/null", "sbatch: error: Batch script is empty!")]
    [InlineData("echo 'echo hi' | sbatch", "sbatch: error: This does not look like a batch script.  The first line must start with #! followed by the path to an interpreter.")]
    [InlineData("sbatch -C gpu --wrap true", "sbatch: error: Batch job submission failed: Invalid feature specification")]
    [InlineData("sbatch --cpus-per-gpu=1 --wrap true", "sbatch: error: --cpus-per-gpu is not supported by this Conductor server yet")]
    [InlineData("sbatch -c 0 --wrap true", "sbatch: error: Batch job submission failed: --cpus-per-task must be at least 1")]
    [InlineData("scancel", "scancel: error: No job identification provided")]
    [InlineData("scancel -s BOGUS 1", "scancel: error: Invalid job signal: BOGUS")]
    [InlineData("scontrol show job 999999", "slurm_load_jobs error: Invalid job id specified")]
    [InlineData("scontrol bogus", "invalid keyword: bogus")]
    [InlineData("scontrol show node nowhere", "Node nowhere not found")]
    [InlineData("scontrol requeue 999999", "Invalid job id specified for job 999999")]
    [InlineData("scontrol requeuehold 999999", "Invalid job id specified for job 999999")]
    [InlineData("scontrol requeuehold", "too few arguments for keyword:requeuehold")]
    [InlineData("scontrol update NodeName=n1 State=DRAIN", "You must specify a reason when DOWNING or DRAINING a node. Request denied")]
    [InlineData("scontrol update JobId=1 Bogus=1", "Update of this parameter is not supported: Bogus=1\nRequest aborted")]
    [InlineData("sacct --format=Bogus", "sacct: error: Invalid field requested: \"Bogus\"")]
    [InlineData("sacct -S yesterday-ish", "sacct: error: Invalid time specification (pos=0): yesterday-ish")]
    [InlineData("sinfo --bogus", "sinfo: unrecognized option '--bogus'")]
    [InlineData("srun", "srun: fatal: No command given to execute.")]
    public async Task Commands_RefuseWithOneSlurmLikeLine_AndExitNonZero(string commandLine, string error)
    {
        var sh = await SlurmShell.CreateAsync(fixture.Server, fixture.NewWorkDir());

        var result = await sh.RunAsync(commandLine);

        Assert.True(result.Code != 0, result.ToString());
        Assert.Equal("", result.Stdout);
        Assert.Equal(error + "\n", result.Stderr);
    }

    private static async Task Golden(SlurmShell sh, string commandLine, string file)
    {
        var expected = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Slurm", "golden", file));
        var actual = sh.Normalize(await sh.OutputAsync(commandLine));
        Assert.True(expected == actual, $"{commandLine} printed\n{actual.Replace(' ', '·')}\nwhere Slurm prints ({file})\n{expected.Replace(' ', '·')}");
    }
}
