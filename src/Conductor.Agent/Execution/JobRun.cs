using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Execution;

internal sealed record JobRunContext(
    IProcessLauncher Launcher, ISignalSender Signals, TimeProvider Time, TimeSpan KillWait, ILogger Logger);

/// <summary>How the processes of one attempt ended: the job's exit status (null when none could be learnt), why the agent stopped it, and what it used.</summary>
public sealed record RunResult(ExitCode? Exit, StopReason Stop, ProcessExit Usage);

/// <summary>
/// The processes of one attempt of a job, from launch (or adoption) to the reaped exit status. The job is stopped
/// when the first of its time limit and <see cref="Stop"/> fires (one linked token, the reason recorded): SIGTERM
/// to the job, up to KillWait for it to exit, then SIGKILL — at once for a job over its memory limit. Whatever
/// ended the leader, the rest of its process group and session is SIGKILLed before the leader is reaped.
/// When the agent detaches (shutdown without drain) the run stops watching and leaves the job running.
/// </summary>
public sealed class JobRun : IDisposable
{
    private static readonly TimeSpan MaxTimerWait = TimeSpan.FromDays(30);
    private static readonly TimeSpan RemnantPollInterval = TimeSpan.FromMilliseconds(50);
    private const int RemnantPolls = 100;

    private readonly CancellationTokenSource _userStop = new();
    private readonly CancellationTokenSource _timeLimit = new();
    private readonly ITimer _timeLimitTimer;
    private readonly CancellationTokenSource _linked;
    private readonly JobRunContext _context;
    private readonly DateTimeOffset _started;
    private readonly Lock _limitLock = new();
    private TimeSpan? _limit;
    private int _stopReason;
    private int _disposed;

    /// <param name="timeLimit">The job's time limit (null: UNLIMITED), counted from <paramref name="ranFor"/> ago.</param>
    /// <param name="ranFor">How long the job has run already (an adopted job), zero for a job launched now.</param>
    internal JobRun(
        JobId jobId, int attempt, LaunchedProcess process, string statusPath, TimeSpan? timeLimit, JobRunContext context, CancellationToken detach,
        TimeSpan ranFor = default)
    {
        JobId = jobId;
        Attempt = attempt;
        Process = process;
        StatusPath = statusPath;
        _context = context;
        _started = context.Time.GetUtcNow() - ranFor;

        // A timer cannot wait longer than about 49 days, and time limits may be longer: re-arm until the deadline.
        _timeLimitTimer = context.Time.CreateTimer(_ => OnTimeLimitTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        ChangeTimeLimit(timeLimit);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(_userStop.Token, _timeLimit.Token);
        Result = RunAsync(detach);
    }

    /// <summary>The time limit the run enforces now; null: UNLIMITED.</summary>
    public TimeSpan? TimeLimit
    {
        get
        {
            lock (_limitLock)
            {
                return _limit;
            }
        }
    }

    /// <summary>
    /// Enforces a new time limit, counted from the job's start (scontrol update TimeLimit=): a limit already passed
    /// stops the job now, as its time limit.
    /// </summary>
    public void ChangeTimeLimit(TimeSpan? limit)
    {
        lock (_limitLock)
        {
            _limit = limit;
            try
            {
                _timeLimitTimer.Change(limit is { } l ? Clamp(_started + l - _context.Time.GetUtcNow()) : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // The run has already finished.
            }
        }
    }

    public JobId JobId { get; }
    public int Attempt { get; }

    /// <summary>The session leader (the job's wrapper).</summary>
    public LaunchedProcess Process { get; }

    /// <summary>Where the wrapper writes the job's exit status.</summary>
    public string StatusPath { get; }

    /// <summary>How the processes ended; null when the agent detached and left the job running.</summary>
    public Task<RunResult?> Result { get; }

    /// <summary>The first stop requested, if any (it may come after the job ended by itself).</summary>
    public StopReason StopReason => (StopReason)Volatile.Read(ref _stopReason);

    /// <summary>Asks the job to stop; the first reason given (or the time limit, if earlier) wins.</summary>
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

    /// <summary>Sends a signal to every process of the job without stopping it (scancel --signal).</summary>
    public void Signal(int signal) => _context.Signals.SignalJob(Process, signal);

    /// <summary>Sends a signal to the batch script's shell only (scancel --batch): the wrapper's child.</summary>
    public bool SignalBatchShell(int signal) => _context.Signals.SignalChildren(Process, signal) > 0;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _linked.Dispose();
        lock (_limitLock)
        {
            _timeLimitTimer.Dispose();
        }

        _timeLimit.Dispose();
        _userStop.Dispose();
    }

    private static TimeSpan Clamp(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t < MaxTimerWait ? t : MaxTimerWait;

    private void OnTimeLimitTimer()
    {
        try
        {
            lock (_limitLock)
            {
                if (_limit is not { } limit)
                {
                    return;
                }

                var remaining = _started + limit - _context.Time.GetUtcNow();
                if (remaining > TimeSpan.Zero)
                {
                    _timeLimitTimer.Change(Clamp(remaining), Timeout.InfiniteTimeSpan);
                    return;
                }
            }

            TrySetReason(StopReason.TimeLimit);
            _timeLimit.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run has already finished.
        }
    }

    private bool TrySetReason(StopReason reason) =>
        Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StopReason.None) == (int)StopReason.None;

    private async Task<RunResult?> RunAsync(CancellationToken detach)
    {
        var context = _context;
        try
        {
            var leaderExit = context.Launcher.WaitForLeaderExitAsync(Process);
            var stopRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var detached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (_linked.Token.Register(() => stopRequested.TrySetResult()))
            using (detach.Register(() => detached.TrySetResult()))
            {
                var first = await Task.WhenAny(leaderExit, stopRequested.Task, detached.Task).ConfigureAwait(false);
                if (first == detached.Task)
                {
                    return null;
                }

                if (first == stopRequested.Task)
                {
                    if (_timeLimit.IsCancellationRequested)
                    {
                        TrySetReason(StopReason.TimeLimit);
                    }

                    await StopProcessesAsync(leaderExit, StopReason).ConfigureAwait(false);
                }
            }

            await leaderExit.ConfigureAwait(false);
            await KillRemnantsAsync().ConfigureAwait(false);
            var usage = context.Launcher.Reap(Process);

            // The wrapper's file holds the job's own status; without it (the wrapper was killed too) the wrapper's
            // wait status is the best there is.
            var exit = JobWrapper.ReadStatus(StatusPath)
                ?? (usage.WaitStatus is { } status ? ExitCode.FromWaitStatus(status) : null);
            AgentLog.Ended(context.Logger, JobId, Attempt, Process.Pid, exit?.ToString() ?? "no status", StopReason);
            return new RunResult(exit, StopReason, usage);
        }
        finally
        {
            Dispose();
        }
    }

    private async Task StopProcessesAsync(Task leaderExit, StopReason stop)
    {
        var context = _context;
        if (stop == StopReason.OutOfMemory)
        {
            context.Signals.SignalJob(Process, NativeMethods.SIGKILL);
            return;
        }

        AgentLog.Stopping(context.Logger, JobId, Attempt, Process.Pid, stop, context.KillWait);
        context.Signals.SignalJob(Process, NativeMethods.SIGTERM);
        using var graceOver = new CancellationTokenSource();
        var grace = Task.Delay(context.KillWait, context.Time, graceOver.Token);
        if (await Task.WhenAny(leaderExit, grace).ConfigureAwait(false) != leaderExit)
        {
            AgentLog.Killing(context.Logger, JobId, context.KillWait);
            context.Signals.SignalJob(Process, NativeMethods.SIGKILL);
        }

        await graceOver.CancelAsync().ConfigureAwait(false);
        await grace.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
            .ConfigureAwait(false);
    }

    /// <summary>SIGKILLs what is left of the job's group and session until nothing of it lives.</summary>
    private async Task KillRemnantsAsync()
    {
        for (var i = 0; i < RemnantPolls; i++)
        {
            if (_context.Signals.SignalJob(Process, NativeMethods.SIGKILL) == 0)
            {
                return;
            }

            await Task.Delay(RemnantPollInterval, _context.Time).ConfigureAwait(false);
        }

        _context.Logger.LogWarning("Job {JobId}: processes of session {Sid} survived SIGKILL", JobId, Process.Pid);
    }
}
