namespace Conductor.EndToEnd.Tests.Slurm;

/// <summary>Slurm's commands doing what Slurm users and their tools rely on, against the real server.</summary>
[Collection("server")]
public sealed class SlurmCommandsTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    private Task<SlurmShell> NewShellAsync() => SlurmShell.CreateAsync(fixture.Server, fixture.NewWorkDir());

    [Fact]
    public async Task Sacct_ParsableStateOfOneJob_AnswersForEveryState()
    {
        var sh = await NewShellAsync();
        static string Query(string id) => $"sacct -P -n --format=JobIdRaw,State -j {id}";

        var pending = (await sh.OutputAsync("sbatch --parsable -H --wrap true")).Trim();
        Assert.Equal($"{pending}|PENDING\n", await sh.OutputAsync(Query(pending)));

        var running = (await sh.OutputAsync("sbatch --parsable --wrap 'sleep 300'")).Trim();
        await Poll.UntilAsync(() => sh.OutputAsync(Query(running)), s => s != $"{running}|PENDING\n", Soon, "the job to start");
        Assert.Equal($"{running}|RUNNING\n{running}.batch|RUNNING\n", await sh.OutputAsync(Query(running)));

        Assert.Equal("", await sh.OutputAsync($"scancel {running}"));
        await Poll.UntilAsync(() => sh.OutputAsync(Query(running)), s => s.Contains("CANCELLED", StringComparison.Ordinal), Soon, "the cancel");
        Assert.Equal($"{running}|CANCELLED\n{running}.batch|CANCELLED\n", await sh.OutputAsync(Query(running)));

        Assert.Equal("", await sh.OutputAsync($"scancel {pending}"));
        Assert.Equal($"{pending}|CANCELLED\n", await sh.OutputAsync(Query(pending)));

        foreach (var (command, state) in new[] { ("true", "COMPLETED"), ("exit 1", "FAILED") })
        {
            var id = (await sh.OutputAsync($"sbatch --parsable --wrap '{command}'")).Trim();
            var answer = await Poll.UntilAsync(() => sh.OutputAsync(Query(id)), s => !s.Contains("PENDING", StringComparison.Ordinal) && !s.Contains("RUNNING", StringComparison.Ordinal), Soon, $"job {id} to end");
            Assert.Equal($"{id}|{state}\n{id}.batch|{state}\n", answer);
        }
    }

    [Fact]
    public async Task Jobs_SeeSlurmsVariables_FindTheCommandsOnPath_AndRunStepsWithSrun()
    {
        var sh = await NewShellAsync();
        await File.WriteAllTextAsync(Path.Combine(sh.WorkDir, "steps.sh"), """
            #!/bin/bash
            #SBATCH --cpus-per-task=2 --mem=64 --output=steps-%j.out
            #SBATCH --export=ALL,FROM_SUBMITTER=yes
            for v in SLURM_JOB_ID SLURM_CPUS_ON_NODE SLURM_CPUS_PER_TASK SLURM_MEM_PER_NODE SLURM_JOB_NODELIST \
                     SLURM_SUBMIT_DIR SLURM_JOB_PARTITION SLURM_JOB_ACCOUNT SLURM_NTASKS FROM_SUBMITTER; do
              echo "$v=${!v}"
            done
            echo "sbatch=$(command -v sbatch)"
            srun -n 2 bash -c 'echo "step $SLURM_STEP_ID task $SLURM_PROCID job $SLURM_JOB_ID"' | sort
            srun bash -c 'echo "step $SLURM_STEP_ID"; exit 5'
            echo "srun exit=$?"
            echo "state=$(squeue -h -j $SLURM_JOB_ID -o %T)"
            child=$(sbatch --parsable --wrap 'echo child of $SLURM_JOB_ID')
            echo "child=$child"
            """);

        var submit = await sh.RunAsync("sbatch --wait steps.sh");
        Assert.True(submit.Code == 0, submit.ToString());
        var id = submit.Stdout.Trim().Split(' ')[^1];
        var lines = (await File.ReadAllTextAsync(Path.Combine(sh.WorkDir, $"steps-{id}.out"))).Split('\n');
        var dataBin = Path.Combine(fixture.Server.DataDirectory, "bin");
        var child = lines.Single(l => l.StartsWith("child=", StringComparison.Ordinal))[6..];
        Assert.StartsWith("SLURM_JOB_ACCOUNT=", lines[7], StringComparison.Ordinal);
        Assert.True(lines[7].Length > "SLURM_JOB_ACCOUNT=".Length, lines[7]);
        Assert.Equal(
            [
                $"SLURM_JOB_ID={id}", "SLURM_CPUS_ON_NODE=2", "SLURM_CPUS_PER_TASK=2", "SLURM_MEM_PER_NODE=64", "SLURM_JOB_NODELIST=e2e-node",
                $"SLURM_SUBMIT_DIR={sh.WorkDir}", "SLURM_JOB_PARTITION=default", lines[7],
                "SLURM_NTASKS=1", "FROM_SUBMITTER=yes", $"sbatch={Path.Combine(dataBin, "sbatch")}",
                $"step 0 task 0 job {id}", $"step 0 task 1 job {id}", "step 1", "srun: error: e2e-node: task 0: Exited with exit code 5", "srun exit=5", "state=RUNNING", $"child={child}", "",
            ],
            lines);

        Assert.Empty(Directory.GetFiles(Path.GetTempPath(), $"conductor-steps-*-{id}-*"));
        var childJob = await fixture.WaitForStateAsync(child, Soon, "COMPLETED");
        Assert.Equal($"child of {child}\n", await File.ReadAllTextAsync(childJob["detail"]!["stdout_path"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Srun_OutsideAJob_StreamsTheOutput_AndExitsWithTheCommandsCode()
    {
        var sh = await NewShellAsync();

        var result = await sh.RunAsync("srun -c 1 -J probe bash -c 'echo out; echo err >&2; exit 3'");

        Assert.Equal(3, result.Code);
        Assert.Equal("out\n", result.Stdout);
        Assert.StartsWith("err\n", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("srun: error: e2e-node: task 0: Exited with exit code 3", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("probe|FAILED|3:0\n", await sh.OutputAsync("sacct -n -X -P --name=probe --format=JobName,State,ExitCode"));
        Assert.Empty(Directory.GetFiles(sh.WorkDir, ".srun-*"));
        Assert.Equal("hello world\n", await sh.OutputAsync("srun echo hello world"));
    }

    [Fact]
    public async Task Scancel_ByNameStateAndUser_CancelsOnlyMatchingJobs_Silently()
    {
        var sh = await NewShellAsync();
        var name = "sweep-" + Guid.NewGuid().ToString("N")[..6];
        var a = (await sh.OutputAsync($"sbatch --parsable -H -J {name} --wrap true")).Trim();
        var b = (await sh.OutputAsync($"sbatch --parsable -H -J {name} --wrap true")).Trim();
        var other = (await sh.OutputAsync("sbatch --parsable -H -J keep --wrap true")).Trim();

        Assert.Equal("", await sh.OutputAsync($"scancel --me -t PENDING -n {name}"));

        Assert.Equal("CANCELLED\nCANCELLED\nPENDING\n", await sh.OutputAsync($"sacct -n -X -P --format=State -j {a},{b},{other}"));
        Assert.Equal("", await sh.OutputAsync($"scancel {other}"));
    }

    [Fact]
    public async Task ScontrolHoldAndRelease_KeepAPendingJobWaiting_AndLetItGo()
    {
        var sh = await NewShellAsync();
        var held = (await sh.OutputAsync("sbatch --parsable -H --wrap true")).Trim();
        Assert.Equal("PENDING JobHeldUser\n", await sh.OutputAsync($"squeue -h -j {held} -o '%T %r'"));

        Assert.Equal("", await sh.OutputAsync($"scontrol release {held}"));
        await Poll.UntilAsync(() => sh.OutputAsync($"sacct -n -X -P -j {held} --format=State"), s => s == "COMPLETED\n", Soon, "the released job to run");

        var later = (await sh.OutputAsync("sbatch --parsable --begin=now+1hour --wrap true")).Trim();
        Assert.Equal("", await sh.OutputAsync($"scontrol hold {later}"));
        Assert.Equal("JobHeldUser\n", await sh.OutputAsync($"squeue -h -j {later} -o %r"));
        Assert.Equal("", await sh.OutputAsync($"scontrol release jobid={later}"));
        await Poll.UntilAsync(() => sh.OutputAsync($"squeue -h -j {later} -o %r"), s => s == "BeginTime\n", Soon, "the scheduler to see the released job wait for its begin time");
        Assert.Equal("", await sh.OutputAsync($"scancel {later}"));

        var missing = await sh.RunAsync("scontrol release 999999");
        Assert.Equal(1, missing.Code);
        Assert.Equal("Invalid job id specified for job 999999\n", missing.Stderr);
    }

    [Fact]
    public async Task Sbatch_TakesChdirExportMemPerCpuAndWait_AsSlurmDoes()
    {
        var sh = await NewShellAsync();
        var sub = Path.Combine(sh.WorkDir, "sub");
        Directory.CreateDirectory(sub);

        var result = await sh.RunAsync("GREETING=hi sbatch --wait -D sub --export=NONE,ONLY=1 --mem-per-cpu=32 -c 2 -o out.txt --wrap 'echo \"$PWD ${GREETING:-none} $ONLY $SLURM_MEM_PER_NODE\"; exit 4'");

        Assert.Equal(4, result.Code);
        Assert.Matches(@"^Submitted batch job \d+\n$", result.Stdout);
        Assert.Equal($"{sub} none 1 64\n", await File.ReadAllTextAsync(Path.Combine(sub, "out.txt")));

        var fromEnvironment = (await sh.OutputAsync("SBATCH_TIMELIMIT=7 SBATCH_JOB_NAME=from-env sbatch --parsable -H --wrap true")).Trim();
        Assert.Equal("from-env 7:00\n", await sh.OutputAsync($"squeue -h -j {fromEnvironment} -o '%j %l'"));
        var commandLineWins = (await sh.OutputAsync("SBATCH_JOB_NAME=from-env sbatch --parsable -H -J from-cli --wrap true")).Trim();
        Assert.Equal("from-cli\n", await sh.OutputAsync($"squeue -h -j {commandLineWins} -o %j"));
        Assert.Equal("", await sh.OutputAsync($"scancel {fromEnvironment} {commandLineWins}"));
    }

    /// <summary>
    /// A pipeline written for Slurm, run unchanged with the commands first on PATH: three steps submitted at once and
    /// chained with --dependency=afterok (the last one waited for with squeue and checked with sacct), and one job cancelled.
    /// </summary>
    [Fact]
    public async Task APipelineWrittenForSlurm_RunsUnchanged()
    {
        var sh = await NewShellAsync();
        await File.WriteAllTextAsync(Path.Combine(sh.WorkDir, "pipeline.sh"), """
            #!/bin/bash
            set -euo pipefail

            cat > step.sh <<'EOF'
            #!/bin/bash
            #SBATCH --job-name=step
            #SBATCH --output=step-%j.out
            #SBATCH --time=5
            echo "step $1 ran as job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"
            [ "$1" = 1 ] || cat "input-$1.txt"
            echo "from step $1" > "input-$(( $1 + 1 )).txt"
            EOF

            wait_for() {
              local id=$1 deadline=$((SECONDS + 60))
              while [ -n "$(squeue -h -j "$id")" ]; do
                [ $SECONDS -lt $deadline ] || { echo "job $id did not end" >&2; exit 1; }
                sleep 0.2
              done
              local state
              state=$(sacct -n -X -P -j "$id" --format=State)
              [ "$state" = COMPLETED ] || { echo "job $id ended $state" >&2; exit 1; }
            }

            first=$(sbatch --parsable step.sh 1)
            second=$(sbatch --parsable --dependency=afterok:$first step.sh 2)
            third=$(sbatch -d "afterok:$second" step.sh 3 | awk '{print $4}')
            wait_for "$third"

            doomed=$(sbatch --parsable --job-name=doomed --wrap 'sleep 600')
            until [ "$(squeue -h -j "$doomed" -o %T)" = RUNNING ]; do sleep 0.2; done
            scancel "$doomed"
            until [ "$(sacct -n -X -P -j "$doomed" --format=State)" = CANCELLED ]; do sleep 0.2; done

            sacct -n -X -P -j "$first,$second,$third,$doomed" --format=JobName,State,ExitCode
            cat "step-$third.out"
            """);

        var result = await sh.RunAsync("bash pipeline.sh", TimeSpan.FromMinutes(3));

        Assert.True(result.Code == 0, result.ToString());
        var lines = result.Stdout.Split('\n');
        Assert.Equal(["step|COMPLETED|0:0", "step|COMPLETED|0:0", "step|COMPLETED|0:0"], lines[..3]);
        Assert.StartsWith("doomed|CANCELLED|0:", lines[3], StringComparison.Ordinal);
        Assert.StartsWith("step 3 ran as job ", lines[4], StringComparison.Ordinal);
        Assert.Equal("from step 2", lines[5]);
    }
}
