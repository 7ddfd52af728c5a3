using Conductor.Core.Identity;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Conductor.Server.Auth;
using Conductor.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Jobs;

/// <summary>
/// The result of a submission: a job id, or the fields that were wrong, or the limit it would exceed, or why the
/// caller may not submit it (another user's job, for anyone but the admin).
/// </summary>
public sealed record SubmitResult(JobId? JobId, ValidationErrors Errors, string? OverLimit = null, string? Forbidden = null);

/// <summary>
/// The one implementation of submitting, reading and cancelling jobs; the v1 API and the SCNS-Conductor
/// compatibility routes are thin adapters over it.
/// </summary>
public sealed class JobService(
    IJobStore jobs,
    INodeStore nodes,
    IWakeBus bus,
    TimeProvider time,
    IOptions<ServerOptions> options,
    ILogger<JobService> logger) : IDisposable
{
    private static readonly TimeSpan NodeCacheLifetime = TimeSpan.FromSeconds(2);
    private readonly ServerOptions _options = options.Value;
    private readonly SubmitQueue _submits = new(jobs);
    private (DateTimeOffset At, IReadOnlyList<NodeRecord> Nodes)? _nodeCache;

    /// <summary>Makes counting a user's pending jobs and adding one a single step, when their number is limited.</summary>
    private readonly SemaphoreSlim _pendingLimit = new(1, 1);

    public async Task<SubmitResult> SubmitAsync(Caller caller, JobSpecInput? input, string? script, CancellationToken ct)
    {
        var errors = new ValidationErrors();
        if (input is null)
        {
            errors.Add("job", "is required: an object with the job's fields");
            JobSpecBuilder.ValidateScript(script, errors);
            return new SubmitResult(null, errors);
        }

        if (input.Uid is { } other && !IsCaller(caller, other) && !caller.IsAdmin)
        {
            return new SubmitResult(null, errors, Forbidden: $"Only the admin may run a job as another user (uid '{other}'); you are '{caller.User}'.");
        }

        var user = JobUser(caller, input.Uid, errors);
        if (user is null)
        {
            return new SubmitResult(null, errors);
        }

        var now = time.GetUtcNow();
        var limits = _options.Partitions.FirstOrDefault(p => p.Name == (input.Partition ?? _options.DefaultPartition));
        var defaults = new SubmitDefaults
        {
            Account = user,
            AccountIsFixed = !caller.IsAdmin,
            MayRaisePriority = caller.IsAdmin,
            OtherAccounts = caller.Accounts,
            Partition = _options.DefaultPartition,
            TimeLimit = limits?.DefaultTime ?? _options.DefaultTimeLimitValue,
            MaxTimeLimit = limits?.MaxTime ?? _options.MaxTimeLimitValue,
            Now = now,
        };
        var spec = JobSpecBuilder.Build(input, script, defaults, errors) is { } built ? built with { User = user } : null;
        if (spec is null)
        {
            return new SubmitResult(null, errors);
        }

        if (limits is not null)
        {
            if (!limits.Allows(spec.Account))
            {
                errors.Add("account", $"'{spec.Account}' may not use partition '{limits.Name}'; it allows {string.Join(", ", limits.AllowAccounts!)}");
                return new SubmitResult(null, errors);
            }

            spec = limits.Exclusive ? spec with { Exclusive = true } : spec;
        }

        if (spec.Dependency is { } dependency && !await CheckDependencyAsync(caller, dependency, errors, ct))
        {
            return new SubmitResult(null, errors);
        }

        var why = FitCheck.WhyNever(spec, await NodesAsync(refresh: false, ct));
        if (why is not null)
        {
            // The cache may predate a node that registered just now; look again before refusing.
            why = FitCheck.WhyNever(spec, await NodesAsync(refresh: true, ct));
        }

        if (why is { } reason)
        {
            errors.Add(reason.Field, reason.Message);
            return new SubmitResult(null, errors);
        }

        JobId id;
        if (_options.UserLimits.For(user).MaxPending is { } maxPending)
        {
            await _pendingLimit.WaitAsync(ct);
            try
            {
                var pending = await jobs.CountPendingAsync(user, ct);
                if (pending + (spec.Array?.Tasks.Count ?? 1) > maxPending)
                {
                    return new SubmitResult(null, errors, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"Job violates the per-user limit (QOSMaxSubmitJobPerUserLimit): user '{user}' already has {pending} pending jobs and may have at most {maxPending}; nothing was submitted."));
                }

                id = await jobs.SubmitAsync(new NewJob(spec, script!, now), ct);
            }
            finally
            {
                _pendingLimit.Release();
            }
        }
        else
        {
            // Submits that arrive together share one transaction.
            id = await _submits.SubmitAsync(new NewJob(spec, script!, now));
        }

        logger.LogInformation("Job {JobId} submitted by {User} for account {Account}: {Cpus} CPUs in {Partition}", id, spec.User, spec.Account, spec.TotalCpus, spec.Partition);
        bus.Publish(WakeTopic.Scheduler);
        return new SubmitResult(id, errors);
    }

    public void Dispose() => _pendingLimit.Dispose();

    /// <summary>The job, or null when it does not exist or belongs to another user.</summary>
    public async Task<JobRecord?> GetAsync(Caller caller, JobId id, CancellationToken ct)
    {
        var job = await jobs.GetAsync(id, ct);
        return job is not null && caller.CanSee(job.Spec) ? job : null;
    }

    public Task<IReadOnlyList<JobRecord>> ListAsync(Caller caller, JobQuery query, CancellationToken ct) =>
        jobs.ListAsync(caller.IsAdmin ? query : query with { User = caller.User }, ct);

    public async Task<IReadOnlyList<JobEvent>?> GetEventsAsync(Caller caller, JobId id, CancellationToken ct) =>
        await GetAsync(caller, id, ct) is null ? null : await jobs.GetEventsAsync(id, ct);

    /// <summary>Cancels a job; idempotent. Null when the job does not exist or is not the caller's.</summary>
    public async Task<CancelResult?> CancelAsync(Caller caller, JobId id, CancellationToken ct)
    {
        if (await GetAsync(caller, id, ct) is null)
        {
            return null;
        }

        var result = await jobs.CancelAsync(id, time.GetUtcNow(), $"cancelled by {caller.User}", ct);
        if (result.Outcome == CancelOutcome.Cancelled)
        {
            logger.LogInformation("Job {JobId} cancelled by {User}", id, caller.User);
            if (result.Node is { } node)
            {
                bus.Publish(WakeTopic.Node(node));
            }

            bus.Publish(WakeTopic.Scheduler);
        }

        return result;
    }

    /// <summary>
    /// A job or one array task (<c>A_k</c>), or null when it does not exist or belongs to another user. A reference to
    /// several tasks names no single job: null.
    /// </summary>
    public async Task<JobRecord?> GetAsync(Caller caller, JobRef reference, CancellationToken ct)
    {
        if (reference.Tasks is null)
        {
            return await GetAsync(caller, reference.Id, ct);
        }

        var job = reference.SingleTask is { } task ? await jobs.GetTaskAsync(reference.Id, task, ct) : null;
        return job is not null && caller.CanSee(job.Spec) ? job : null;
    }

    /// <summary>
    /// The one row a reference names: the job, or the task <c>A_k</c>, split off its array first when it has not
    /// started (so that what is done to it is done to it alone). Null when it names none of the caller's.
    /// </summary>
    public async Task<JobId?> ResolveRowAsync(Caller caller, JobRef reference, CancellationToken ct)
    {
        if (reference.Tasks is null)
        {
            return reference.Id;
        }

        if (reference.SingleTask is null || await GetAsync(caller, reference.Id, ct) is null)
        {
            return null;
        }

        var rows = await jobs.ResolveAsync(reference, splitUnstarted: true, time.GetUtcNow(), ct);
        return rows.Count == 1 ? rows[0] : null;
    }

    /// <summary>How many tasks of an array are in each state; null when it is no array of the caller's.</summary>
    public async Task<ArrayTaskCounts?> GetArrayCountsAsync(Caller caller, JobId array, CancellationToken ct) =>
        await GetAsync(caller, array, ct) is { ArrayJobId: not null } ? await jobs.GetArrayCountsAsync(array, ct) : null;

    /// <summary>
    /// Cancels a job, a whole array, or some of its tasks; idempotent. Null when nothing of the caller's matches. The
    /// result is CANCELLED when anything was cancelled, else the state of what was named.
    /// </summary>
    public async Task<CancelResult?> CancelAsync(Caller caller, JobRef reference, CancellationToken ct)
    {
        if (reference.Tasks is null && await GetAsync(caller, reference.Id, ct) is { ArrayJobId: null })
        {
            return await CancelAsync(caller, reference.Id, ct);
        }

        var results = (await ForEachRowAsync(caller, reference, async id => await CancelAsync(caller, id, ct), ct)).OfType<CancelResult>().ToList();
        return results.Count == 0 ? null : results.FirstOrDefault(r => r.Outcome == CancelOutcome.Cancelled) ?? results[0];
    }

    /// <summary>Holds or releases a job, a whole array or some of its tasks; null when nothing of the caller's matches.</summary>
    public async Task<HoldOutcome?> SetHoldAsync(Caller caller, JobRef reference, bool hold, bool? adminHold, CancellationToken ct)
    {
        if (reference.Tasks is null && await GetAsync(caller, reference.Id, ct) is { ArrayJobId: null })
        {
            return await SetHoldAsync(caller, reference.Id, hold, adminHold, ct);
        }

        var outcomes = await ForEachRowAsync(caller, reference, async id => await SetHoldAsync(caller, id, hold, adminHold, ct) ?? HoldOutcome.NotFound, ct);
        return outcomes.Count == 0 ? null
            : outcomes.Contains(HoldOutcome.Changed) ? HoldOutcome.Changed
            : outcomes.Contains(HoldOutcome.Unchanged) ? HoldOutcome.Unchanged
            : outcomes.Contains(HoldOutcome.Forbidden) ? HoldOutcome.Forbidden
            : outcomes[0];
    }

    /// <summary>
    /// Acts on every row a reference names (unstarted tasks named alone are split off first). For a whole array the
    /// array's row goes first, so that no task is split off it afterwards, and the rows are read again until none is
    /// left that was split off meanwhile.
    /// </summary>
    private async Task<IReadOnlyList<T>> ForEachRowAsync<T>(Caller caller, JobRef reference, Func<JobId, Task<T>> act, CancellationToken ct)
    {
        if (await GetAsync(caller, reference.Id, ct) is null)
        {
            return [];
        }

        var results = new List<T>();
        var done = new HashSet<JobId>();
        for (var round = 0; round < 3; round++)
        {
            var rows = await jobs.ResolveAsync(reference, splitUnstarted: true, time.GetUtcNow(), ct);
            var fresh = rows.Where(done.Add).ToList();
            if (fresh.Count == 0 || reference.Tasks is not null && round > 0)
            {
                break;
            }

            foreach (var row in fresh)
            {
                results.Add(await act(row));
            }
        }

        return results;
    }

    /// <summary>
    /// Holds or releases a pending job; null when the job does not exist or is not the caller's. A hold by the admin
    /// of another user's job, or one asked for as such (<paramref name="adminHold"/>), is the admin's: only the admin
    /// may release it. <paramref name="adminHold"/> false asks for a user's hold (Slurm's <c>uhold</c>).
    /// </summary>
    public async Task<HoldOutcome?> SetHoldAsync(Caller caller, JobId id, bool hold, bool? adminHold, CancellationToken ct)
    {
        var job = await GetAsync(caller, id, ct);
        if (job is null)
        {
            return null;
        }

        if (adminHold == true && !caller.IsAdmin)
        {
            return HoldOutcome.Forbidden;
        }

        var action = !hold ? HoldAction.Release
            : adminHold ?? (caller.IsAdmin && job.Spec.Owner != caller.User) ? HoldAction.HoldAdmin
            : HoldAction.HoldUser;
        var outcome = await jobs.SetHoldAsync(id, action, caller.IsAdmin, time.GetUtcNow(), $"{(hold ? "held" : "released")} by {caller.User}", ct);
        if (outcome == HoldOutcome.Changed)
        {
            logger.LogInformation("Job {JobId} {Action} by {User}", id, action switch
            {
                HoldAction.HoldAdmin => "held by the admin",
                HoldAction.HoldUser => "held",
                _ => "released",
            }, caller.User);
            bus.Publish(WakeTopic.Scheduler);
        }

        return outcome == HoldOutcome.NotFound ? null : outcome;
    }

    /// <summary>
    /// Replaces a pending job's dependency (empty text removes it), validated as at submit and refused when it would
    /// make the job wait for itself. The outcome is null when the job does not exist or is not the caller's.
    /// </summary>
    public async Task<(DependencyChangeOutcome? Outcome, ValidationErrors Errors)> SetDependencyAsync(Caller caller, JobId id, string? text, CancellationToken ct)
    {
        var errors = new ValidationErrors();
        if (await GetAsync(caller, id, ct) is null)
        {
            return (null, errors);
        }

        if (!Dependencies.TryParse(text, out var dependency, out var error))
        {
            errors.Add("dependency", error);
            return (null, errors);
        }

        if (dependency is not null && !await CheckDependencyAsync(caller, dependency, errors, ct))
        {
            return (null, errors);
        }

        var outcome = await jobs.SetDependencyAsync(id, dependency, time.GetUtcNow(), $"dependency={dependency?.ToString() ?? "(null)"} by {caller.User}", ct);
        switch (outcome)
        {
            case DependencyChangeOutcome.Cycle:
                errors.Add("dependency", dependency!.Targets.Contains(id)
                    ? $"names job {id} itself: a job cannot wait for itself"
                    : $"would make job {id} wait for itself through the jobs it names (a cycle)");
                return (null, errors);
            case DependencyChangeOutcome.Changed:
                logger.LogInformation("Job {JobId} now depends on {Dependency}, set by {User}", id, dependency?.ToString() ?? "nothing", caller.User);
                bus.Publish(WakeTopic.Scheduler);
                break;
        }

        return (outcome == DependencyChangeOutcome.NotFound ? null : outcome, errors);
    }

    /// <summary>
    /// Every job a new dependency names must exist and be the caller's (the admin may name anyone's); a task
    /// (<c>12_7</c>) must belong to an array. False, with the reasons in <paramref name="errors"/>, otherwise.
    /// </summary>
    internal async Task<bool> CheckDependencyAsync(Caller caller, Dependency dependency, ValidationErrors errors, CancellationToken ct)
    {
        foreach (var target in dependency.Targets)
        {
            var job = await jobs.GetAsync(target, ct);
            if (job is null || !caller.CanSee(job.Spec))
            {
                errors.Add("dependency", $"names job {target}, which does not exist or is not yours");
                return false;
            }

            foreach (var term in dependency.Terms.Where(t => t.Target == target && t.Task is not null))
            {
                if (MissingTasks(job, TaskSet.Of(term.Task!.Value)) is { } missing)
                {
                    errors.Add("dependency", $"names {target}_{term.Task}, but {missing}");
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Why a reference to tasks (<c>A_k</c>, <c>A_[k-l]</c>) names none that array <c>A</c> has, as a field-level
    /// message; null when it names a job as a whole, when some of its tasks exist, or when the job is not the caller's
    /// (which the command then reports as not found).
    /// </summary>
    public async Task<string?> WhyNoSuchTasksAsync(Caller caller, JobRef reference, CancellationToken ct)
    {
        if (reference.Tasks is not { } tasks || await GetAsync(caller, reference.Id, ct) is not { } job)
        {
            return null;
        }

        return MissingTasks(job, tasks);
    }

    /// <summary>Why <paramref name="tasks"/> names no task of <paramref name="job"/>'s array, or null when it names some.</summary>
    private static string? MissingTasks(JobRecord job, TaskSet tasks)
    {
        if (job.ArrayJobId != job.Id || job.Spec.Array is not { } array)
        {
            return $"job {job.Id} is not a job array";
        }

        return array.Tasks.Intersect(tasks).IsEmpty
            ? $"array {job.Id} has no task {(tasks.Count == 1 ? tasks.ToString() : $"in [{tasks}]")}: its tasks are {array.Tasks}"
            : null;
    }

    /// <summary>
    /// The Unix user a new job runs as: the caller, or for the admin the user named by <c>uid</c> (Slurm's --uid).
    /// Null, with the reason in <paramref name="errors"/>, when that is not allowed.
    /// </summary>
    private string? JobUser(Caller caller, string? uid, ValidationErrors errors)
    {
        if (uid is null || IsCaller(caller, uid))
        {
            return caller.User;
        }

        if (!caller.IsAdmin)
        {
            errors.Add("uid", "only the admin may run a job as another user");
            return null;
        }

        if (!UnixUser.ProcessIsRoot)
        {
            errors.Add("uid", $"this server runs every job as '{UnixUser.Current.Name}'; running jobs as another user needs a server started as root");
            return null;
        }

        var entry = int.TryParse(uid, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? UnixUser.FindById(number)
            : UnixUser.FindByName(uid);
        if (entry is null)
        {
            errors.Add("uid", $"there is no user '{uid}' on this server");
            return null;
        }

        return entry.Name;
    }

    /// <summary>Whether <paramref name="uid"/> (a name or a number) is the caller's own user.</summary>
    private static bool IsCaller(Caller caller, string uid) =>
        uid == caller.User ||
        int.TryParse(uid, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) &&
        UnixUser.FindById(number)?.Name == caller.User;

    public async Task<IReadOnlyList<NodeRecord>> NodesAsync(bool refresh, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (!refresh && _nodeCache is { } cache && now - cache.At < NodeCacheLifetime)
        {
            return cache.Nodes;
        }

        var list = await nodes.ListAsync(ct);
        _nodeCache = (now, list);
        return list;
    }
}
