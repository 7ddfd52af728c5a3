using System.Diagnostics;
using Conductor.Core.Hosting;
using Conductor.Core.Scheduling;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Scheduling;

/// <summary>What one pass did: how many jobs it started and when the next begin time falls due.</summary>
public sealed record PassResult(int Started, DateTimeOffset? NextBegin);

/// <summary>
/// Runs scheduling passes: load a snapshot, ask the policy, commit the plan in one transaction, wake the
/// agents of the nodes that got work. Woken by events; a slow timer is only a safety net. Bursts of
/// wake-ups collapse into one pass. Among servers sharing a database, only the holder of the scheduler role
/// (<see cref="ILeadership"/>) runs passes; the others wait for the role.
/// </summary>
public sealed class SchedulerService(
    ISchedulerStore store,
    ISchedulingPolicy policy,
    IWakeBus bus,
    TimeProvider time,
    IOptions<SchedulerOptions> options,
    ILogger<SchedulerService> logger,
    IEnumerable<ISchedulerPassObserver> observers,
    ILeadership leadership,
    FairShareLedger fairShare,
    SchedulerView view,
    UserLimits userLimits,
    DependencyUpkeep dependencies) : LoopingService(time, logger)
{
    private readonly SchedulerOptions _options = options.Value;
    private readonly WakeSignal _wake = bus.Subscribe(WakeTopic.Scheduler);
    private readonly ISchedulerPassObserver[] _observers = observers.ToArray();
    private DateTimeOffset? _nextBegin;
    private DateTimeOffset _lastPassEnd = DateTimeOffset.MinValue;

    /// <summary>The reservations last written to the store; null until the first commit of this leadership.</summary>
    private IReadOnlyList<ExpectedStart>? _reservations;

    /// <summary>The pending jobs, kept between the passes of this leadership and loaded whole at its first.</summary>
    private PendingSet _pending = new();

    /// <summary>The change log is pruned up to the mark the pending set had this long ago, so that every reader has passed it.</summary>
    private static readonly TimeSpan ChangeLogKeep = TimeSpan.FromMinutes(1);

    private DateTimeOffset _prunedAt = DateTimeOffset.MinValue;
    private ChangeMark? _pruneNext;

    /// <summary>How often a standby server refreshes the priority factors it shows.</summary>
    public static readonly TimeSpan StandbyRefresh = TimeSpan.FromSeconds(5);

    /// <summary>A pass costlier than this is spaced from the next one.</summary>
    private static readonly TimeSpan ExpensivePass = TimeSpan.FromMilliseconds(20);

    /// <summary>How long the last pass took, for metrics and benchmarks.</summary>
    public TimeSpan LastPassDuration { get; private set; }

    public long Passes { get; private set; }

    protected override TimeSpan Interval => _options.SafetyInterval;

    protected override TimeSpan MaxBackoff => _options.MaxBackoff;

    protected override WakeSignal? Wake => _wake;

    protected override async Task RunOnceAsync(CancellationToken ct)
    {
        if (!leadership.IsLeader)
        {
            _reservations = null;
            _pending = new PendingSet();
            _pruneNext = null;
            await StandByAsync(ct);
            logger.LogInformation("Scheduling on this server");
        }

        // Under a burst of wake-ups (submits, ends) passes would run back to back, each reading every pending job.
        // A pass starts at the earliest its own cost after the last one ended, twice its cost for an expensive one:
        // the scheduler stays under half a core (a third) whatever the backlog, and the wake-ups that arrive in
        // between (the ends of several jobs, a stream of submits) are served by one pass. A wake-up after a quiet
        // spell runs at once, so a job still starts within milliseconds of its submission.
        var spacing = TimeSpan.FromTicks(Math.Min(
            LastPassDuration < ExpensivePass ? LastPassDuration.Ticks : LastPassDuration.Ticks * 2,
            _options.SafetyInterval.Ticks));
        var since = Time.GetUtcNow() - _lastPassEnd;
        if (since < spacing)
        {
            await Task.Delay(spacing - since, Time, ct);
        }

        _nextBegin = (await PassAsync(ct)).NextBegin;
        _lastPassEnd = Time.GetUtcNow();
    }

    /// <summary>The safety interval, or sooner when a pending job's begin time falls due before it.</summary>
    protected override TimeSpan NextDelay() =>
        _nextBegin is { } begin
            ? TimeSpan.FromTicks(Math.Clamp((begin - Time.GetUtcNow()).Ticks, TimeSpan.FromMilliseconds(10).Ticks, Interval.Ticks))
            : Interval;

    public async Task<PassResult> PassAsync(CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var loaded = await store.LoadSnapshotAsync(_pending, ct);

        // Arrays with unstarted tasks split off what could start (only when there are any), and the new rows are read.
        if (loaded.Pending.Any(j => j.Array is { HoldsUnstarted: true } && !j.Held) && await store.SplitArrayTasksAsync(Time.GetUtcNow(), ct) > 0)
        {
            loaded = await store.LoadSnapshotAsync(_pending, ct);
        }

        var snapshot = JobArrayGate.Apply(DependencyGate.Apply(loaded, Time.GetUtcNow()), Time.GetUtcNow());
        await dependencies.ApplyAsync(snapshot.DependencyVerdicts, ct);
        if (snapshot.Pending.Count == 0 && _reservations is { Count: 0 })
        {
            LastPassDuration = watch.Elapsed;
            Passes++;
            Notify(new SchedulerPass(snapshot, [], Time.GetUtcNow(), watch.Elapsed));
            return new PassResult(0, null);
        }

        snapshot = snapshot with { Usage = await fairShare.UsageAsync(ct) };
        var now = Time.GetUtcNow();
        if (userLimits.LimitsRunning)
        {
            snapshot = userLimits.Gate(snapshot, await store.LoadUserLoadAsync(ct), now);
        }

        var plan = policy.Plan(snapshot, now);
        if (plan.Order is { } order)
        {
            _pending.Reorder(order);
        }
        ShowPriorities(snapshot, now);

        // Reservations are written only when they change (most passes leave them alone).
        var reservationsChanged = _reservations is null || !_reservations.SequenceEqual(plan.ExpectedStarts);
        plan = plan with { Reservations = reservationsChanged ? plan.ExpectedStarts : null };
        var commitTime = Time.GetUtcNow();
        var started = plan.Starts.Count == 0 && plan.ReasonChanges.Count == 0 && !reservationsChanged
            ? []
            : await store.CommitAsync(plan, commitTime, ct);
        if (reservationsChanged)
        {
            _reservations = plan.ExpectedStarts;
        }
        foreach (var node in started.Select(s => s.Node).Distinct())
        {
            bus.Publish(WakeTopic.Node(node));
        }

        // A start may meet a dependency (after, singleton's rivals are judged anew): look again rather than at the
        // next finish.
        if (started.Count > 0 && snapshot.Dependents.Count > 0)
        {
            bus.Publish(WakeTopic.Scheduler);
        }

        LastPassDuration = watch.Elapsed;
        Passes++;
        Notify(new SchedulerPass(snapshot, started, commitTime, watch.Elapsed));
        await PruneChangesAsync(ct);
        if (started.Count > 0)
        {
            logger.LogDebug("Scheduling pass started {Started} of {Pending} pending jobs in {Elapsed} ms",
                started.Count, snapshot.Pending.Count, watch.Elapsed.TotalMilliseconds);
        }

        // A job waiting for its begin time wakes the scheduler when it becomes eligible.
        // So does one waiting for an after:ID+N dependency.
        var nextBegin = snapshot.Pending
            .Where(j => j.Begin > now && !j.Held)
            .Select(j => j.Begin)
            .Append(DependencyGate.NextDue(snapshot.Dependents, now))
            .Min();
        return new PassResult(started.Count, nextBegin);
    }

    /// <summary>Hands the API the priority factors of <paramref name="snapshot"/>'s pending jobs, as a pass weighs them.</summary>
    private void ShowPriorities(SchedulerSnapshot snapshot, DateTimeOffset now) =>
        view.Update(new PriorityModel(snapshot, now, (policy as BackfillPolicy)?.Options ?? PolicyOptions.Default));

    /// <summary>Once a minute, deletes the change log up to where the pending set stood a minute before.</summary>
    private async Task PruneChangesAsync(CancellationToken ct)
    {
        var now = Time.GetUtcNow();
        if (now - _prunedAt < ChangeLogKeep)
        {
            return;
        }

        if (_pruneNext is { } upTo)
        {
            await store.PruneChangesAsync(upTo, ct);
        }

        _pruneNext = _pending.Mark;
        _prunedAt = now;
    }

    /// <summary>
    /// Waits for the scheduler role, meanwhile keeping the priority factors that the API shows up to date (read only:
    /// a standby splits no array, writes no reason and prunes nothing).
    /// </summary>
    private async Task StandByAsync(CancellationToken ct)
    {
        var leader = leadership.WaitForLeadershipAsync(ct);
        var pending = new PendingSet();
        var refreshed = DateTimeOffset.MinValue;
        while (!leader.IsCompleted)
        {
            // A standby that has not read the change log for a while may have missed pruned changes: it loads anew.
            if (Time.GetUtcNow() - refreshed > ChangeLogKeep / 2)
            {
                pending = new PendingSet();
            }

            try
            {
                var snapshot = await store.LoadSnapshotAsync(pending, ct);
                var now = Time.GetUtcNow();
                snapshot = snapshot with { Usage = await fairShare.UsageAsync(ct) };
                ShowPriorities(snapshot, now);
                refreshed = now;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                logger.LogWarning(e, "The standby could not refresh the priority factors");
            }

            using var pause = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.WhenAny(leader, Task.Delay(StandbyRefresh, Time, pause.Token));
            await pause.CancelAsync();
            ct.ThrowIfCancellationRequested();
        }

        await leader;
    }

    private void Notify(SchedulerPass pass)
    {
        foreach (var observer in _observers)
        {
            try
            {
                observer.OnPass(pass);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "A scheduler pass observer failed");
            }
        }
    }
}
