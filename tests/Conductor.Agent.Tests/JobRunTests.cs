using System.Collections.Concurrent;
using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Agent.Tests;

/// <summary>The runner's stop logic against a fake process and a fake clock.</summary>
public sealed class JobRunTests : IDisposable
{
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _temp = new();
    private readonly FakeTimeProvider _time = new();
    private readonly FakeProcesses _processes = new();

    public void Dispose() => _temp.Dispose();

    private TimeSpan? _limit;

    private JobRun Start(Func<JobLaunch, JobLaunch>? customize = null, CancellationToken detach = default)
    {
        var launch = Jobs.Launch(_temp.Combine("work"), "sleep 1000", customize);
        _limit = launch.Spec.TimeLimit;
        var process = _processes.Launch(new LaunchRequest("/bin/sh", ["/bin/sh"], new Dictionary<string, string>(), "/", "/dev/null", null));
        return new JobRun(launch.JobId, launch.Attempt, process, _temp.Combine("no-status"), launch.Spec.TimeLimit,
            new JobRunContext(_processes, _processes, _time, KillWait, NullLogger.Instance), detach);
    }

    private async Task<JobOutcome> OutcomeOf(JobRun run)
    {
        var result = await run.Result.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(result);
        return JobOutcome.FromExit(result.Exit, result.Stop, _limit);
    }

    [Fact]
    public async Task Start_SendsSigtermThenSigkill_WhenTimeLimitPassesAndJobIgnoresSigterm()
    {
        var run = Start(l => l.WithSpec(s => s with { TimeLimit = TimeSpan.FromMinutes(5) }));

        _time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Equal(StopReason.None, run.StopReason);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await Poll.TrueAsync(() => _processes.Signals.Contains(NativeMethods.SIGTERM)));
        var termAt = _time.GetUtcNow();
        Assert.DoesNotContain(NativeMethods.SIGKILL, _processes.Signals);

        while (!_processes.Signals.Contains(NativeMethods.SIGKILL) && _time.GetUtcNow() - termAt < KillWait * 2)
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Yield();
            await Poll.TrueAsync(() => _processes.Signals.Contains(NativeMethods.SIGKILL), TimeSpan.FromMilliseconds(20));
        }

        Assert.Contains(NativeMethods.SIGKILL, _processes.Signals);
        Assert.True(_time.GetUtcNow() - termAt >= KillWait, $"SIGKILL after {_time.GetUtcNow() - termAt}");
        var outcome = await OutcomeOf(run);
        Assert.Equal(OutcomeKind.TimedOut, outcome.Kind);
        Assert.Equal(ExitCode.Killed(9), outcome.ExitCode);
    }

    [Fact]
    public async Task Start_EnforcesTimeLimit_WhenLimitIsLongerThanATimerCanWait()
    {
        _processes.ExitOnSigterm = true;
        var run = Start(l => l.WithSpec(s => s with { TimeLimit = TimeSpan.FromDays(100) }));

        for (var day = 0; day < 99; day++)
        {
            _time.Advance(TimeSpan.FromDays(1));
        }

        // The timer callback runs inside Advance, so the reason would already be set.
        Assert.Equal(StopReason.None, run.StopReason);
        _time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(StopReason.TimeLimit, run.StopReason);
        var outcome = await OutcomeOf(run);

        Assert.Equal(OutcomeKind.TimedOut, outcome.Kind);
        Assert.Equal(NativeMethods.SIGTERM, _processes.Signals.First());
    }

    [Fact]
    public async Task Stop_EndsWithoutWaitingForKillWait_WhenJobExitsOnSigterm()
    {
        _processes.ExitOnSigterm = true;
        var run = Start();

        run.Stop(StopReason.UserCancel);
        var outcome = await OutcomeOf(run);

        Assert.Equal(OutcomeKind.Cancelled, outcome.Kind);
        Assert.Equal(ExitCode.Killed(15), outcome.ExitCode);
        Assert.Equal(StopReason.UserCancel, run.StopReason);
    }

    [Fact]
    public async Task Start_KillsSessionBeforeReaping_WhenLeaderExitsByItself()
    {
        var run = Start();

        _processes.Exit(0);
        var outcome = await OutcomeOf(run);

        Assert.Equal(OutcomeKind.Completed, outcome.Kind);
        Assert.Equal(["signal 9", "reap"], _processes.Calls.ToArray());
    }

    [Fact]
    public async Task Stop_ChangesNothing_WhenJobAlreadyEnded()
    {
        var run = Start();
        _processes.Exit(3 << 8);
        var outcome = await OutcomeOf(run);

        run.Stop(StopReason.UserCancel);

        Assert.Equal(OutcomeKind.Failed, outcome.Kind);
        Assert.Equal(ExitCode.Exited(3), outcome.ExitCode);
        Assert.DoesNotContain(NativeMethods.SIGTERM, _processes.Signals);
    }

    [Fact]
    public async Task Stop_KeepsFirstReason_WhenStoppedTwice()
    {
        _processes.ExitOnSigterm = true;
        var run = Start(l => l.WithSpec(s => s with { TimeLimit = TimeSpan.FromHours(1) }));

        run.Stop(StopReason.Fenced);
        run.Stop(StopReason.UserCancel);
        _time.Advance(TimeSpan.FromHours(2));
        var outcome = await OutcomeOf(run);

        Assert.Equal(OutcomeKind.Fenced, outcome.Kind);
        Assert.Equal(StopReason.Fenced, run.StopReason);
    }

    [Fact]
    public async Task Detach_StopsWatchingWithoutSignals_WhenTheAgentShutsDown()
    {
        using var detach = new CancellationTokenSource();
        var run = Start(detach: detach.Token);

        await detach.CancelAsync();
        var result = await run.Result.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Null(result);
        Assert.Empty(_processes.Signals);
    }

    /// <summary>One fake process: exits when told, or on the signals it is configured to die from.</summary>
    private sealed class FakeProcesses : IProcessLauncher, ISignalSender
    {
        private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentQueue<int> Signals { get; } = new();
        public ConcurrentQueue<string> Calls { get; } = new();
        public bool ExitOnSigterm { get; set; }
        public string? LaunchError { get; set; }

        public void Exit(int status) => _exit.TrySetResult(status);

        public LaunchedProcess Launch(LaunchRequest request) =>
            LaunchError is null ? new LaunchedProcess(4242, 123456) : throw new ProcessLaunchException(LaunchError);

        public Task WaitForLeaderExitAsync(LaunchedProcess process) => _exit.Task;

        public ProcessExit Reap(LaunchedProcess process)
        {
            Calls.Enqueue("reap");
            return new ProcessExit(_exit.Task.Result, 0.5, 1024);
        }

        public int SignalJob(LaunchedProcess process, int signal)
        {
            Signals.Enqueue(signal);
            Calls.Enqueue("signal " + signal);
            if (signal == NativeMethods.SIGKILL || (signal == NativeMethods.SIGTERM && ExitOnSigterm))
            {
                Exit(signal);
            }

            return 0;
        }

        public int SignalChildren(LaunchedProcess process, int signal)
        {
            Calls.Enqueue("signal children " + signal);
            return 1;
        }
    }
}
