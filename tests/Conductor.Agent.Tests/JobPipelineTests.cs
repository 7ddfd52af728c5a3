using System.Collections.Concurrent;
using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Pipeline;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Agent.Tests;

/// <summary>The worker's design points, each shown with real processes.</summary>
[Collection(ProcessCollection.Name)]
public sealed class JobPipelineTests : IDisposable
{
    private static readonly TimeSpan OutcomeTimeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string WorkDir => _temp.Combine("work");

    private ExecutorHarness Harness(Action<AgentOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var options = Jobs.Options(_temp.Combine("scripts"));
        options.Cpus = 2;
        configure?.Invoke(options);
        return new ExecutorHarness(options, services);
    }

    private static async Task<string> CpusAllowedAsync(RunHandle run)
    {
        var outcome = await run.Outcome.WaitAsync(OutcomeTimeout);
        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        return File.ReadAllText(run.StdoutPath!).Trim();
    }

    [Fact]
    public async Task Pinning_GivesConcurrentOneCpuJobsDisjointCpus_AndATwoCpuJobBoth()
    {
        var allowed = PosixProcessLauncher.AllowedCpus();
        Assert.True(allowed.Count >= 2, "the machine must offer at least two CPUs");
        using var harness = Harness();
        const string Script = "grep Cpus_allowed_list /proc/self/status | cut -f2\nsleep 0.5";

        var first = harness.Start(Jobs.Launch(WorkDir, Script, l => (l with { Job = l.Job with { Cores = [0] } }).WithSpec(s => s with { StdoutPattern = "a-%j.out" })));
        var second = harness.Start(Jobs.Launch(WorkDir, Script, l => (l with { Job = l.Job with { Cores = [1] } }).WithSpec(s => s with { StdoutPattern = "b-%j.out" })));
        var a = await CpusAllowedAsync(first);
        var b = await CpusAllowedAsync(second);

        Assert.Equal(allowed[0].ToString(System.Globalization.CultureInfo.InvariantCulture), a);
        Assert.Equal(allowed[1].ToString(System.Globalization.CultureInfo.InvariantCulture), b);
        Assert.NotEqual(a, b);

        var both = harness.Start(Jobs.Launch(WorkDir, Script, l => (l with { Job = l.Job with { Cores = [0, 1] } }).WithSpec(s => s with { CpusPerTask = 2, StdoutPattern = "c-%j.out" })));
        var c = await CpusAllowedAsync(both);
        Assert.Equal($"{allowed[0]}-{allowed[1]}", c.Replace(',', '-'));
    }

    [CgroupFact]
    public async Task End_KillsWhatLeftTheJobsSessionOrGroup_FindingItInTheJobsCgroup()
    {
        using var harness = Harness(o => o.UseCgroups = true);

        var run = harness.Start(Jobs.Launch(WorkDir, "setsid sleep 301 &\necho $! > session.pid\nset -m\nsleep 302 &\necho $! > group.pid\nexit 0"));
        Assert.Equal(OutcomeKind.Completed, (await run.Outcome.WaitAsync(OutcomeTimeout)).Kind);

        var ownSession = await ReadPidAsync("session.pid");
        var ownGroup = await ReadPidAsync("group.pid");
        Assert.True(await Poll.TrueAsync(() => !Jobs.IsAlive(ownSession)), $"the process in its own session ({ownSession}) survived");
        Assert.True(await Poll.TrueAsync(() => !Jobs.IsAlive(ownGroup)), $"the process in its own group ({ownGroup}) survived");
    }

    [Fact]
    public async Task End_KillsWhatLeftTheJobsGroup_SweepingTheSession_WithoutCgroups()
    {
        using var harness = Harness(o => o.UseCgroups = false);

        var run = harness.Start(Jobs.Launch(WorkDir, "set -m\nsleep 303 &\necho $! > group.pid\nexit 0"));
        Assert.Equal(OutcomeKind.Completed, (await run.Outcome.WaitAsync(OutcomeTimeout)).Kind);

        var ownGroup = await ReadPidAsync("group.pid");
        Assert.True(await Poll.TrueAsync(() => !Jobs.IsAlive(ownGroup)), $"the process in its own group ({ownGroup}) survived");
    }

    private async Task<int> ReadPidAsync(string file)
    {
        var path = Path.Combine(WorkDir, file);
        var pid = 0;
        Assert.True(await Poll.TrueAsync(() => File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), out pid) && pid > 0), $"{file} was not written");
        return pid;
    }

    [CgroupFact]
    public async Task MemoryLimit_EndsAGreedyJobOutOfMemory_ByTheKernelInItsCgroup()
    {
        var completion = await RunGreedyJobAsync(useCgroups: true);

        Assert.Contains(completion.Events!, e => e.Kind == JobEventKind.Signal && e.Detail!.Contains("memory limit of its cgroup", StringComparison.Ordinal));
        Assert.DoesNotContain(completion.Events!, e => e.Detail!.Contains("killing the job", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MemoryLimit_EndsAGreedyJobOutOfMemory_ByTheMonitor_WithoutCgroups()
    {
        var completion = await RunGreedyJobAsync(useCgroups: false);

        // The monitor warned at 90% of the limit, then killed the job itself.
        Assert.Contains(completion.Events!, e => e.Kind == JobEventKind.Warning && e.Detail!.Contains("passed 90%", StringComparison.Ordinal));
        Assert.Contains(completion.Events!, e => e.Kind == JobEventKind.Signal && e.Detail!.Contains("killing the job", StringComparison.Ordinal));
    }

    private async Task<JobCompletion> RunGreedyJobAsync(bool useCgroups)
    {
        using var harness = Harness(o => o.UseCgroups = useCgroups);
        var started = DateTime.UtcNow;

        var run = harness.Start(Jobs.Launch(WorkDir, "head -c 2000M /dev/zero | tail", l => l.WithSpec(s => s with { MemoryMiB = 256 })));
        var outcome = await run.Outcome.WaitAsync(OutcomeTimeout);

        Assert.Equal(OutcomeKind.OutOfMemory, outcome.Kind);
        Assert.Equal(JobState.OutOfMemory, outcome.State);
        Assert.Contains("256M", outcome.Error, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
        var completion = Assert.Single(harness.Store.Finishes);
        Assert.True(completion.MaxRssKiB > 100 * 1024, $"MaxRSS {completion.MaxRssKiB} KiB was not recorded");
        return completion;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Usage_MaxRssIsTheJobsResidentMemory_NotThePageCache(bool useCgroups)
    {
        using var harness = Harness(o => o.UseCgroups = useCgroups);

        // tail holds its whole newline-free input, 200 MiB, until a slow reader has taken it.
        var big = harness.Start(Jobs.Launch(WorkDir, "head -c 200M /dev/zero | tail | (sleep 1; wc -c)", l => l.WithSpec(s => s with { MemoryMiB = 1024 })));
        Assert.Equal(OutcomeKind.Completed, (await big.Outcome.WaitAsync(OutcomeTimeout)).Kind);

        // Writing 64 MiB fills the page cache, which is not the job's memory.
        var small = harness.Start(Jobs.Launch(WorkDir, "echo hi\nhead -c 64M /dev/zero > written.bin\nsleep 0.5", l => l.WithSpec(s => s with { MemoryMiB = 1024 })));
        Assert.Equal(OutcomeKind.Completed, (await small.Outcome.WaitAsync(OutcomeTimeout)).Kind);

        var bigMiB = harness.Store.Finishes.Single(f => f.JobId == big.JobId).MaxRssKiB / 1024;
        var smallMiB = harness.Store.Finishes.Single(f => f.JobId == small.JobId).MaxRssKiB / 1024;
        Assert.InRange(bigMiB ?? 0, 195, 260);
        Assert.InRange(smallMiB ?? 0, 1, 32);
    }

    [Fact]
    public async Task Usage_TotalCpuCountsEveryProcessOfTheJob_BackgroundOnesIncluded()
    {
        using var harness = Harness();
        const string Spin = "spin() { i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; }\n";

        var one = harness.Start(Jobs.Launch(WorkDir, Spin + "spin"));
        Assert.Equal(OutcomeKind.Completed, (await one.Outcome.WaitAsync(OutcomeTimeout)).Kind);
        var two = harness.Start(Jobs.Launch(WorkDir, Spin + "spin &\nspin\nwait"));
        Assert.Equal(OutcomeKind.Completed, (await two.Outcome.WaitAsync(OutcomeTimeout)).Kind);

        var oneCpu = harness.Store.Finishes.Single(f => f.JobId == one.JobId).CpuSeconds ?? 0;
        var twoCpu = harness.Store.Finishes.Single(f => f.JobId == two.JobId).CpuSeconds ?? 0;
        Assert.True(oneCpu > 0.1, $"one busy process used {oneCpu} s of CPU");
        Assert.InRange(twoCpu / oneCpu, 1.5, 2.6);
    }

    [Fact]
    public async Task MemoryLimit_LeavesAJobUnderItsLimitAlone()
    {
        using var harness = Harness(o => o.UseCgroups = false);

        var run = harness.Start(Jobs.Launch(WorkDir, "head -c 20M /dev/zero | tail\nsleep 0.5", l => l.WithSpec(s => s with { MemoryMiB = 256 })));
        var outcome = await run.Outcome.WaitAsync(OutcomeTimeout);

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
    }

    [Fact]
    public async Task Stages_AreRecordedInOrderWithTimes()
    {
        using var harness = Harness();

        var run = harness.Start(Jobs.Launch(WorkDir, "true"));
        await run.Outcome.WaitAsync(OutcomeTimeout);

        var stages = harness.Store.Events.Where(e => e.Kind == JobEventKind.Stage).ToList();
        Assert.Equal(
            ["Initialized", "Loaded", "ResourcesAllocated", "Prepared", "Running", "Completed", "CleanedUp"],
            stages.Select(e => e.Detail));
        Assert.Equal(stages.Select(e => e.Time).Order(), stages.Select(e => e.Time));
    }

    [Fact]
    public async Task Stages_EndWithFailed_WhenTheScriptFails()
    {
        using var harness = Harness();

        await harness.Start(Jobs.Launch(WorkDir, "exit 2")).Outcome.WaitAsync(OutcomeTimeout);

        var stages = harness.Store.Events.Where(e => e.Kind == JobEventKind.Stage).Select(e => e.Detail).ToList();
        Assert.Equal(["Failed", "CleanedUp"], stages[^2..]);
    }

    [Fact]
    public async Task Pipeline_RunsACustomStepForEveryJob_WithoutChangingTheExecutor()
    {
        var step = new RecordingStep();
        using var harness = Harness(services: s =>
        {
            s.AddSingleton(step);
            s.AddJobExecutionStep<RecordingStepAdapter>();
        });

        var runs = new[] { "true", "exit 3", "echo hi" }.Select(script => harness.Start(Jobs.Launch(WorkDir, script))).ToList();
        foreach (var run in runs)
        {
            await run.Outcome.WaitAsync(OutcomeTimeout);
        }

        Assert.Equal(3, step.Before.Count);
        Assert.Equal(3, step.After.Count);
        Assert.Equal(runs.Select(r => r.JobId).Order(), step.After.Keys.Order());
        Assert.Equal(JobState.Failed, step.After[runs[1].JobId]);
        Assert.All(step.Before.Values, stage => Assert.Equal(ExecutionStage.Prepared, stage));
    }

    [Fact]
    public async Task Retry_PutsAFailedScriptBackInTheQueue_WhileRetriesAreLeft()
    {
        using var harness = Harness();

        await harness.Start(Jobs.Launch(WorkDir, "exit 3", l => (l with { Job = l.Job with { Attempt = 2 } }).WithSpec(s => s with { MaxRetries = 2 }))).Outcome.WaitAsync(OutcomeTimeout);
        await harness.Start(Jobs.Launch(WorkDir, "exit 3", l => (l with { Job = l.Job with { Attempt = 3 } }).WithSpec(s => s with { MaxRetries = 2 }))).Outcome.WaitAsync(OutcomeTimeout);
        await harness.Start(Jobs.Launch(WorkDir, "exit 3")).Outcome.WaitAsync(OutcomeTimeout);

        var finishes = harness.Store.Finishes.ToList();
        Assert.Equal(JobState.Pending, finishes[0].State);
        Assert.Contains("retry 2 of 2", finishes[0].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(JobState.Failed, finishes[1].State);
        Assert.Equal(JobState.Failed, finishes[2].State);
        Assert.Equal("Exited with code 3", finishes[2].ErrorMessage);
    }

    [Fact]
    public async Task Lease_IsReleasedOnce_AndTheEndReachesTheStoreThroughTransientFailures()
    {
        using var harness = Harness();
        harness.Store.FinishFailuresLeft = 2;

        var completion = await harness.Start(Jobs.Launch(WorkDir, "true")).Completion.WaitAsync(OutcomeTimeout);

        Assert.NotNull(completion);
        Assert.Equal(JobState.Completed, Assert.Single(harness.Store.Finishes).State);
        Assert.Equal(0, harness.Get<Conductor.Agent.Resources.ResourceTracker>().AllocatedCpus);
    }

    [Fact]
    public async Task Lease_ReportsTheFault_WhenPreparingTheJobFails()
    {
        using var harness = Harness();

        var run = harness.Start(Jobs.Launch("/proc/conductor-no-such-dir", "true"));
        var outcome = await run.Outcome.WaitAsync(OutcomeTimeout);

        Assert.Equal(OutcomeKind.LaunchFailed, outcome.Kind);
        var completion = Assert.Single(harness.Store.Finishes);
        Assert.Equal(JobState.Failed, completion.State);
        Assert.StartsWith("could not create the working directory /proc/conductor-no-such-dir", completion.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains(completion.Events!, e => e.Kind == JobEventKind.Warning && e.Detail!.StartsWith("Allocation", StringComparison.Ordinal));
    }

    public sealed class RecordingStep
    {
        public ConcurrentDictionary<JobId, ExecutionStage> Before { get; } = new();
        public ConcurrentDictionary<JobId, JobState> After { get; } = new();
    }

    public sealed class RecordingStepAdapter(RecordingStep record) : IJobExecutionStep
    {
        public async Task InvokeAsync(JobExecutionContext context, JobExecutionDelegate next)
        {
            record.Before[context.JobId] = context.Stage;
            await next(context);
            record.After[context.JobId] = context.Outcome!.State;
        }
    }
}
