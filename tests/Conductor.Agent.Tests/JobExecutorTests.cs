using System.Diagnostics;
using System.Globalization;
using Conductor.Agent.Execution;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Tests;

/// <summary>Real /bin/bash jobs through the real launcher and runner. One class, so launches never overlap.</summary>
[Collection(ProcessCollection.Name)]
public sealed class JobExecutorTests : IDisposable
{
    private static readonly TimeSpan OutcomeTimeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<TimeSpan, ExecutorHarness> _harnesses = [];

    public void Dispose()
    {
        foreach (var harness in _harnesses.Values)
        {
            harness.Dispose();
        }

        _temp.Dispose();
    }

    private string WorkDir => _temp.Combine("work");

    private async Task<(RunHandle Run, JobOutcome Outcome)> RunAsync(
        string script, Func<JobLaunch, JobLaunch>? customize = null, TimeSpan? killWait = null)
    {
        var run = Start(script, customize, killWait);
        return (run, await run.Outcome.WaitAsync(OutcomeTimeout));
    }

    private RunHandle Start(string script, Func<JobLaunch, JobLaunch>? customize = null, TimeSpan? killWait = null) =>
        Harness(killWait ?? TimeSpan.FromSeconds(1)).Start(Jobs.Launch(WorkDir, script, customize));

    private ExecutorHarness Harness(TimeSpan killWait)
    {
        if (!_harnesses.TryGetValue(killWait, out var harness))
        {
            _harnesses[killWait] = harness = new ExecutorHarness(Jobs.Options(_temp.Combine("scripts"), killWait));
        }

        return harness;
    }

    private static string ReadOutput(RunHandle run) => File.ReadAllText(run.StdoutPath!);

    private async Task<int> ReadPidFileAsync(string path)
    {
        var pid = 0;
        Assert.True(await Poll.TrueAsync(() =>
            File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out pid)),
            $"{path} was not written");
        return pid;
    }

    [Fact]
    public async Task Start_Completes_WhenScriptExitsZero()
    {
        var (run, outcome) = await RunAsync("echo hello");

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        Assert.Equal(JobState.Completed, outcome.State);
        Assert.Equal(ExitCode.Success, outcome.ExitCode);
        Assert.Null(outcome.Error);
        Assert.Equal(Path.Combine(WorkDir, $"slurm-{run.JobId}.out"), run.StdoutPath);
        Assert.Equal("hello\n", ReadOutput(run));
    }

    [Fact]
    public async Task Start_FailsWithExitCode_WhenScriptExitsNonZero()
    {
        var (_, outcome) = await RunAsync("echo about to fail\nexit 3");

        Assert.Equal(JobState.Failed, outcome.State);
        Assert.Equal(ExitCode.Exited(3), outcome.ExitCode);
        Assert.Equal("Exited with code 3", outcome.Error);
    }

    [Fact]
    public async Task Start_FailsWithSignal_WhenScriptKillsItself()
    {
        var (_, outcome) = await RunAsync("kill -9 $$");

        Assert.Equal(JobState.Failed, outcome.State);
        Assert.Equal(ExitCode.Killed(9), outcome.ExitCode);
        Assert.Equal("Killed by signal 9 (SIGKILL), which Conductor did not send", outcome.Error);
    }

    [Fact]
    public async Task Start_TimesOut_WhenTimeLimitPasses()
    {
        var watch = Stopwatch.StartNew();
        var (_, outcome) = await RunAsync("sleep 60", l => l.WithSpec(s => s with { TimeLimit = TimeSpan.FromSeconds(1) }), TimeSpan.FromSeconds(1));

        Assert.Equal(OutcomeKind.TimedOut, outcome.Kind);
        Assert.Equal(JobState.Timeout, outcome.State);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Stop_KillsGrandchildren_WhenUserCancels()
    {
        var run = Start("(sleep 300 & echo $! > grandchild.pid; wait) &\nsleep 300");
        var grandchild = await ReadPidFileAsync(Path.Combine(WorkDir, "grandchild.pid"));
        Assert.True(Jobs.IsAlive(grandchild));

        await run.StopAsync(StopReason.UserCancel);
        var outcome = await run.Outcome.WaitAsync(OutcomeTimeout);

        Assert.Equal(OutcomeKind.Cancelled, outcome.Kind);
        Assert.Equal(JobState.Cancelled, outcome.State);
        Assert.True(await Poll.TrueAsync(() => !Jobs.IsAlive(grandchild)), $"grandchild {grandchild} survived");
    }

    [Fact]
    public async Task Stop_SendsSigkill_WhenScriptIgnoresSigterm()
    {
        var run = Start("trap '' TERM\necho ready > ready\nwhile true; do sleep 0.1; done", killWait: TimeSpan.FromSeconds(1));
        Assert.True(await Poll.TrueAsync(() => File.Exists(Path.Combine(WorkDir, "ready"))));

        var watch = Stopwatch.StartNew();
        await run.StopAsync(StopReason.UserCancel);
        var outcome = await run.Outcome.WaitAsync(OutcomeTimeout);

        Assert.Equal(OutcomeKind.Cancelled, outcome.Kind);
        Assert.Equal(ExitCode.Killed(9), outcome.ExitCode);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"SIGKILL came after {watch.Elapsed}");
    }

    [Fact]
    public async Task Detach_LeavesTheJobRunning_WhenTheAgentShutsDown()
    {
        var harness = new ExecutorHarness(Jobs.Options(_temp.Combine("scripts-detach")));
        var run = harness.Start(Jobs.Launch(WorkDir, "echo started > started\nsleep 300"));
        Assert.True(await Poll.TrueAsync(() => File.Exists(Path.Combine(WorkDir, "started"))));

        harness.Detach();
        var completion = await run.Completion.WaitAsync(OutcomeTimeout);

        Assert.Null(completion);
        Assert.Empty(harness.Store.Finishes);
        Assert.True(run.Process!.IsAlive);
        new Conductor.Agent.Processes.PosixSignalSender(Microsoft.Extensions.Logging.Abstractions.NullLogger<Conductor.Agent.Processes.PosixSignalSender>.Instance).SignalJob(run.Process, 9);
        Assert.True(await Poll.TrueAsync(() => !run.Process.IsAlive));
        harness.Dispose();
    }

    [Fact]
    public async Task Detach_LeavesTheJobRunning_WhenTheAgentShutsDownWhileTheLaunchIsRecorded()
    {
        var harness = new ExecutorHarness(Jobs.Options(_temp.Combine("scripts-detach-launch")));
        harness.Store.LaunchGate = new TaskCompletionSource();
        var run = harness.Start(Jobs.Launch(WorkDir, "sleep 300"));
        await harness.Store.LaunchRecording.Task.WaitAsync(OutcomeTimeout);

        harness.Detach();
        var completion = await run.Completion.WaitAsync(OutcomeTimeout);

        Assert.Null(completion);
        Assert.Equal(OutcomeKind.Detached, run.Context.Outcome?.Kind);
        Assert.Empty(harness.Store.Finishes);
        Assert.Equal(0, harness.Get<Conductor.Agent.Resources.ResourceTracker>().AllocatedCpus);
        Assert.True(run.Process!.IsAlive);
        Assert.True(Directory.Exists(run.Context.Directory!.Root), "the job directory stays for the adoption");
        new Conductor.Agent.Processes.PosixSignalSender(Microsoft.Extensions.Logging.Abstractions.NullLogger<Conductor.Agent.Processes.PosixSignalSender>.Instance).SignalJob(run.Process, 9);
        Assert.True(await Poll.TrueAsync(() => !run.Process.IsAlive));
        harness.Dispose();
    }

    [Fact]
    public async Task Start_PassesOnlyJobEnvironment_WhenAgentHoldsSecrets()
    {
        Environment.SetEnvironmentVariable("CONDUCTOR_TOKEN", "agent-secret-token");
        Environment.SetEnvironmentVariable("PGPASSWORD", "agent-db-password");
        var (run, outcome) = await RunAsync("env", l => l.WithSpec(s => s with
        {
            CpusPerTask = 2,
            Ntasks = 3,
            MemoryMiB = 512,
            Environment = new Dictionary<string, string> { ["MY_SETTING"] = "value with spaces", ["PATH"] = "/custom/bin:/usr/bin:/bin" },
        }));

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        var env = ReadOutput(run).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        var id = run.JobId.ToString();
        Assert.Equal(id, env["SLURM_JOB_ID"]);
        Assert.Equal(id, env["CONDUCTOR_JOB_ID"]);
        Assert.Equal("2", env["SLURM_CPUS_PER_TASK"]);
        Assert.Equal("6", env["SLURM_JOB_CPUS_PER_NODE"]);
        Assert.Equal("512", env["SLURM_MEM_PER_NODE"]);
        Assert.Equal("value with spaces", env["MY_SETTING"]);
        Assert.Equal("/custom/bin:/usr/bin:/bin", env["PATH"]);
        Assert.Equal(WorkDir, env["PWD"]);
        Assert.DoesNotContain("CONDUCTOR_TOKEN", env.Keys);
        Assert.DoesNotContain("PGPASSWORD", env.Keys);
        Assert.DoesNotContain(env.Values, v => v.Contains("agent-secret-token", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_CreatesOutputDirectory_WhenPatternHasOne()
    {
        var (run, outcome) = await RunAsync("echo logged", l => l.WithSpec(s => s with { Name = "myjob", StdoutPattern = "logs/%x-%j.out" }));

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        var expected = Path.Combine(WorkDir, "logs", $"myjob-{run.JobId}.out");
        Assert.Equal(expected, run.StdoutPath);
        Assert.Equal("logged\n", File.ReadAllText(expected));
    }

    [Fact]
    public async Task Start_WritesStderrSeparately_WhenStderrPatternIsSet()
    {
        var (run, _) = await RunAsync("echo out\necho err >&2", l => l.WithSpec(s => s with { StderrPattern = "err-%j.txt" }));

        Assert.Equal("out\n", ReadOutput(run));
        Assert.Equal(Path.Combine(WorkDir, $"err-{run.JobId}.txt"), run.StderrPath);
        Assert.Equal("err\n", File.ReadAllText(run.StderrPath!));
    }

    [Fact]
    public async Task Start_MergesStderrIntoStdout_WhenNoStderrPattern()
    {
        var (run, _) = await RunAsync("echo out\necho err >&2");

        Assert.Equal(run.StdoutPath, run.StderrPath);
        Assert.Equal("out\nerr\n", ReadOutput(run));
    }

    [Fact]
    public async Task Start_UsesShebangInterpreter_WhenScriptHasOne()
    {
        var (run, outcome) = await RunAsync("#!/bin/sh\nreadlink /proc/$$/exe");

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        var sh = new FileInfo("/bin/sh").ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? "/bin/sh";
        Assert.Equal(Path.GetFileName(sh), Path.GetFileName(ReadOutput(run).Trim()));
    }

    [Fact]
    public async Task Start_RunsScriptUnderBash_WhenScriptHasNoShebang()
    {
        var (run, _) = await RunAsync("echo \"$BASH_VERSION\"");

        Assert.NotEqual("", ReadOutput(run).Trim());
    }

    [Fact]
    public async Task Start_PassesArguments_WhenJobHasThem()
    {
        var (run, _) = await RunAsync("printf '[%s]' \"$@\"", l => l.WithSpec(s => s with { Arguments = ["a b", "c", ""] }));

        Assert.Equal("[a b][c][]", ReadOutput(run));
    }

    [Fact]
    public async Task Start_CreatesAndUsesWorkDir_WhenItDoesNotExist()
    {
        var workDir = _temp.Combine("deep", "er", "work");
        var (run, outcome) = await RunAsync("pwd", l => l.WithSpec(s => s with { WorkDir = workDir }));

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        Assert.Equal(workDir + "\n", File.ReadAllText(run.StdoutPath!));
    }

    [Fact]
    public async Task Start_KillsLeftoverProcesses_WhenLeaderExits()
    {
        var (run, outcome) = await RunAsync("sleep 300 &\necho $! > bg.pid\nexit 0");

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        var background = await ReadPidFileAsync(Path.Combine(WorkDir, "bg.pid"));
        Assert.True(await Poll.TrueAsync(() => !Jobs.IsAlive(background)), $"background {background} survived");
        Assert.True(await Poll.TrueAsync(() => !Jobs.SessionHasLiveProcesses(run.Process!.Pid)));
    }

    [Fact]
    public async Task Start_RestoresDefaultSigpipe_WhenAgentIgnoresIt()
    {
        var (run, _) = await RunAsync("yes | head -n 1 > /dev/null\necho \"${PIPESTATUS[0]}\"");

        Assert.Equal("141\n", ReadOutput(run));
    }

    [Fact]
    public async Task Start_ReadsStdinFromDevNull_WhenScriptReadsInput()
    {
        var (run, _) = await RunAsync("if read -r line; then echo got; else echo eof; fi");

        Assert.Equal("eof\n", ReadOutput(run));
    }

    [Fact]
    public async Task Start_RecordsProcessIdentity_WhenLaunched()
    {
        var run = Start("echo started > started\nsleep 300");
        Assert.True(await Poll.TrueAsync(() => File.Exists(Path.Combine(WorkDir, "started"))));

        var stat = Conductor.Agent.Processes.ProcStat.Read(run.Process!.Pid);
        Assert.NotNull(stat);
        Assert.Equal(run.Process.StartTicks, stat.Value.StartTicks);
        Assert.Equal(run.Process.Pid, stat.Value.Session);
        Assert.Equal(run.Process.Pid, stat.Value.ProcessGroup);

        await run.StopAsync(StopReason.UserCancel);
        await run.Outcome.WaitAsync(OutcomeTimeout);
    }

    [Fact]
    public async Task Start_FailsToLaunch_WhenInterpreterIsMissing()
    {
        var (run, outcome) = await RunAsync("#!/nonexistent/interpreter\necho never");

        Assert.Equal(OutcomeKind.Failed, outcome.Kind);
        Assert.Equal(JobState.Failed, outcome.State);
        Assert.Equal(ExitCode.Exited(127), outcome.ExitCode);
        Assert.Contains("interpreter", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("not found", ReadOutput(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_FailsToLaunch_WhenOutputDirectoryCannotBeCreated()
    {
        var (_, outcome) = await RunAsync("echo never", l => l.WithSpec(s => s with { StdoutPattern = "/proc/conductor-no-such-dir/out.txt" }));

        Assert.Equal(OutcomeKind.LaunchFailed, outcome.Kind);
        Assert.StartsWith("could not create the output directory /proc/conductor-no-such-dir:", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WritesScriptWithOwnerOnlyMode_WhenPreparing()
    {
        var run = Start("cp \"$0\" copy-of-script; stat -c %a \"$0\" > mode; sleep 300");
        Assert.True(await Poll.TrueAsync(() => File.Exists(Path.Combine(WorkDir, "mode")) && File.ReadAllText(Path.Combine(WorkDir, "mode")).Length > 0));

        Assert.Equal("700\n", File.ReadAllText(Path.Combine(WorkDir, "mode")));
        await run.StopAsync(StopReason.UserCancel);
        await run.Outcome.WaitAsync(OutcomeTimeout);
        Assert.False(Directory.Exists(JobDirectory.For(_temp.Combine("scripts"), run.JobId, 1).Root), "the job directory is removed once the end is recorded");
    }
}
