using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Execution;

internal sealed record JobRunContext(
    IProcessLauncher Launcher, ISignalSender Signals, TimeProvider Time, TimeSpan KillWait, ILogger Logger);

/// <summary>
/// One attempt of a job, from launch to the reaped exit status. The job is stopped when the first of its time
/// limit, <see cref="Stop"/> and host shutdown fires (one linked token); stopping is SIGTERM to the job, up to
/// KillWait for the leader to exit, then SIGKILL. Whatever ended the leader, the rest of its process group and
/// session is SIGKILLed before the leader is reaped.
/// </summary>
public sealed class JobRun : IDisposable
{
    private static readonly TimeSpan MaxTimerWait = TimeSpan.FromDays(30);
    private static readonly TimeSpan RemnantPollInterval = TimeSpan.FromMilliseconds(50);
    private const int RemnantPolls = 100;

    private readonly CancellationTokenSource _userStop = new();
    private readonly CancellationTokenSource? _timeLimit;
    private readonly ITimer? _timeLimitTimer;
    private readonly CancellationTokenSource? _linked;
    private readonly List<CancellationTokenRegistration> _registrations = [];
    private readonly CancellationToken _shutdown;
    private int _stopReason;
    private int _disposed;

    private JobRun(JobLaunch launch, JobOutcome launchFailure)
    {
        Launch = launch;
        Outcome = Task.FromResult(launchFailure);
    }

    private JobRun(JobLaunch launch, LaunchedProcess process, string stdoutPath, string stderrPath, JobRunContext context, CancellationToken shutdown)
    {
        Launch = launch;
        Process = process;
        StdoutPath = stdoutPath;
        StderrPath = stderrPath;
        _shutdown = shutdown;
        if (launch.TimeLimit is { } limit)
        {
            // A timer cannot wait longer than about 49 days, and time limits may be longer: re-arm until the deadline.
            _timeLimit = new CancellationTokenSource();
            var timeLimit = _timeLimit;
            var deadline = context.Time.GetUtcNow() + limit;
            _timeLimitTimer = context.Time.CreateTimer(
                _ => OnTimeLimitTimer(context.Time, deadline, timeLimit), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _timeLimitTimer.Change(Min(limit, MaxTimerWait), Timeout.InfiniteTimeSpan);
        }

        _registrations.Add(shutdown.Register(() => TrySetReason(StopReason.Shutdown)));
        _linked = CancellationTokenSource.CreateLinkedTokenSource(
            shutdown, _userStop.Token, _timeLimit?.Token ?? CancellationToken.None);
        Outcome = RunAsync(process, context);
    }

    public JobLaunch Launch { get; }

    /// <summary>The session leader; null when the job never started.</summary>
    public LaunchedProcess? Process { get; }

    public string? StdoutPath { get; }
    public string? StderrPath { get; }

    /// <summary>How the attempt ended. Faults only on infrastructure errors (e.g. the agent lost its child).</summary>
    public Task<JobOutcome> Outcome { get; }

    /// <summary>The first stop requested, if any (it may come after the job ended by itself).</summary>
    public StopReason StopReason => (StopReason)Volatile.Read(ref _stopReason);

    internal static JobRun Failed(JobLaunch launch, string error) => new(launch, JobOutcome.LaunchFailed(error));

    internal static JobRun Started(
        JobLaunch launch, LaunchedProcess process, string stdoutPath, string stderrPath, JobRunContext context, CancellationToken shutdown) =>
        new(launch, process, stdoutPath, stderrPath, context, shutdown);

    /// <summary>Asks the job to stop; the first reason given (or the time limit or shutdown, if earlier) wins.</summary>
    public void Stop(StopReason reason)
    {
        if (reason == StopReason.None || !TrySetReason(reason))
        {
            return;
        }

        try
        {
            _userStop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run has already finished.
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _linked?.Dispose();
        _timeLimitTimer?.Dispose();
        _timeLimit?.Dispose();
        _userStop.Dispose();
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private void OnTimeLimitTimer(TimeProvider time, DateTimeOffset deadline, CancellationTokenSource timeLimit)
    {
        var remaining = deadline - time.GetUtcNow();
        try
        {
            if (remaining > TimeSpan.Zero)
            {
                _timeLimitTimer?.Change(Min(remaining, MaxTimerWait), Timeout.InfiniteTimeSpan);
                return;
            }

            TrySetReason(StopReason.TimeLimit);
            timeLimit.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run has already finished.
        }
    }

    private bool TrySetReason(StopReason reason) =>
        Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StopReason.None) == (int)StopReason.None;

    private async Task<JobOutcome> RunAsync(LaunchedProcess process, JobRunContext context)
    {
        try
        {
            var leaderExit = context.Launcher.WaitForLeaderExitAsync(process);
            var stopRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var stop = StopReason.None;
            using (_linked!.Token.Register(() => stopRequested.TrySetResult()))
            {
                if (await Task.WhenAny(leaderExit, stopRequested.Task) != leaderExit)
                {
                    stop = ResolveStopReason();
                    await StopProcessesAsync(process, leaderExit, stop, context);
                }
            }

            await leaderExit;
            await KillRemnantsAsync(process, context);
            var exit = ExitCode.FromWaitStatus(context.Launcher.Reap(process));
            AgentLog.Ended(context.Logger, Launch.JobId, Launch.Attempt, process.Pid, exit, stop);
            return JobOutcome.FromExit(exit, stop, Launch.TimeLimit);
        }
        finally
        {
            Dispose();
        }
    }

    private StopReason ResolveStopReason()
    {
        // The callbacks normally set the reason first; this covers a source cancelled before they were registered.
        if (_timeLimit?.IsCancellationRequested == true)
        {
            TrySetReason(StopReason.TimeLimit);
        }
        else if (_shutdown.IsCancellationRequested)
        {
            TrySetReason(StopReason.Shutdown);
        }
        else
        {
            TrySetReason(StopReason.UserCancel);
        }

        return StopReason;
    }

    private async Task StopProcessesAsync(LaunchedProcess process, Task leaderExit, StopReason stop, JobRunContext context)
    {
        AgentLog.Stopping(context.Logger, Launch.JobId, Launch.Attempt, process.Pid, stop, context.KillWait);
        context.Signals.SignalJob(process, NativeMethods.SIGTERM);
        using var graceOver = new CancellationTokenSource();
        var grace = Task.Delay(context.KillWait, context.Time, graceOver.Token);
        if (await Task.WhenAny(leaderExit, grace) != leaderExit)
        {
            AgentLog.Killing(context.Logger, Launch.JobId, context.KillWait);
            context.Signals.SignalJob(process, NativeMethods.SIGKILL);
        }

        await graceOver.CancelAsync();
        await grace.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>SIGKILLs what is left of the job's group and session until nothing of it lives.</summary>
    private async Task KillRemnantsAsync(LaunchedProcess process, JobRunContext context)
    {
        for (var i = 0; i < RemnantPolls; i++)
        {
            if (context.Signals.SignalJob(process, NativeMethods.SIGKILL) == 0)
            {
                return;
            }

            await Task.Delay(RemnantPollInterval, context.Time);
        }

        context.Logger.LogWarning("Job {JobId}: processes of session {Sid} survived SIGKILL", Launch.JobId, process.Pid);
    }
}
