using System.Globalization;
using Conductor.Core.Jobs;

namespace Conductor.Core.Scheduling;

/// <summary>
/// How much one user may have in the queue and on the nodes at once, as a QOS's per-user limits in Slurm: pending
/// jobs (checked at submit), running jobs and CPUs in use (checked by the scheduler). Null: no limit.
/// </summary>
public sealed record UserLimit(int? MaxPending = null, int? MaxRunning = null, int? MaxCpus = null)
{
    public static UserLimit None { get; } = new();

    public bool LimitsRunning => MaxRunning is not null || MaxCpus is not null;
}

/// <summary>What one user has running now: jobs and the CPUs they hold.</summary>
public readonly record struct UserUsage(int Jobs, int Cpus);

/// <summary>Who owns each pending job, and what each user has running: what the scheduler's per-user gate needs.</summary>
public sealed record UserLoad(IReadOnlyDictionary<JobId, string> PendingOwners, IReadOnlyDictionary<string, UserUsage> Running);

/// <summary>
/// The server's per-user limits: one for every user, and overrides for some, each a line
/// <c>USER MaxPending=N MaxRunning=N MaxCpus=N</c> (any of the three; <c>UNLIMITED</c> lifts the default).
/// </summary>
public sealed class UserLimits
{
    /// <summary>Slurm's reason for a job held back by its user's running-jobs limit.</summary>
    public const string MaxJobsReason = "QOSMaxJobsPerUserLimit";

    /// <summary>Slurm's reason for a job held back by its user's CPU limit.</summary>
    public const string MaxCpusReason = "QOSMaxCpuPerUserLimit";

    private readonly Dictionary<string, UserLimit> _byUser;

    public UserLimits(UserLimit defaults, IReadOnlyDictionary<string, UserLimit>? overrides = null)
    {
        Default = defaults ?? UserLimit.None;
        _byUser = new Dictionary<string, UserLimit>(overrides ?? new Dictionary<string, UserLimit>(), StringComparer.Ordinal);
    }

    public static UserLimits None { get; } = new(UserLimit.None);

    public UserLimit Default { get; }

    /// <summary>True when some user's running jobs or CPUs are limited: the scheduler then gates pending jobs.</summary>
    public bool LimitsRunning => Default.LimitsRunning || _byUser.Values.Any(l => l.LimitsRunning);

    public bool LimitsPending => Default.MaxPending is not null || _byUser.Values.Any(l => l.MaxPending is not null);

    public UserLimit For(string user) => _byUser.TryGetValue(user, out var own) ? own : Default;

    /// <summary>
    /// Marks the pending jobs that would take their user beyond a running-jobs or CPU limit as ineligible, with
    /// Slurm's reason, so that the policy starts none of them and blocks nothing with them. Each user's jobs are
    /// taken in the order of their own priority (nice, then age), so the jobs left eligible are at most what the
    /// user may still start: whatever the policy starts in this pass, the limits hold.
    /// </summary>
    public SchedulerSnapshot Gate(SchedulerSnapshot snapshot, UserLoad load, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(load);
        if (!LimitsRunning)
        {
            return snapshot;
        }

        var gates = new Dictionary<JobId, string>();
        var candidates = snapshot.Pending
            .Where(j => j.Ineligible is null && !j.Held && !(j.Begin > now) && load.PendingOwners.ContainsKey(j.Id))
            .GroupBy(j => load.PendingOwners[j.Id], StringComparer.Ordinal);
        foreach (var user in candidates)
        {
            var limit = For(user.Key);
            if (!limit.LimitsRunning)
            {
                continue;
            }

            var running = load.Running.GetValueOrDefault(user.Key);
            var jobsLeft = limit.MaxRunning is { } maxJobs ? maxJobs - running.Jobs : int.MaxValue;
            var cpusLeft = limit.MaxCpus is { } maxCpus ? maxCpus - running.Cpus : int.MaxValue;
            foreach (var job in user.OrderByDescending(j => j.Priority).ThenBy(j => j.SubmitTime).ThenBy(j => j.Id.Value))
            {
                if (jobsLeft <= 0)
                {
                    gates[job.Id] = MaxJobsReason;
                }
                else if (job.Cpus > cpusLeft)
                {
                    gates[job.Id] = MaxCpusReason;
                }
                else
                {
                    jobsLeft--;
                    cpusLeft -= job.Cpus;
                }
            }
        }

        return gates.Count == 0
            ? snapshot
            : snapshot with { Pending = snapshot.Pending.Select(j => gates.TryGetValue(j.Id, out var reason) ? j with { Ineligible = reason } : j).ToList() };
    }

    /// <summary>Reads one override line, <c>alice MaxRunning=4 MaxCpus=32 MaxPending=100</c>, over the defaults.</summary>
    public static bool TryParseOverride(string? text, UserLimit defaults, out string user, out UserLimit limit, out string error)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        user = "";
        limit = defaults;
        error = "";
        var words = (text ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length < 2 || words[0].Contains('=', StringComparison.Ordinal))
        {
            error = "must be a user's name and limits, e.g. 'alice MaxRunning=4 MaxCpus=32 MaxPending=100'";
            return false;
        }

        user = words[0];
        foreach (var word in words.Skip(1))
        {
            var pair = word.Split('=', 2);
            int? value = null;
            var valid = pair.Length == 2 && (pair[1].Equals("UNLIMITED", StringComparison.OrdinalIgnoreCase) ||
                int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && (value = n) is not null);
            switch (valid ? pair[0].ToLowerInvariant() : "")
            {
                case "maxpending":
                    limit = limit with { MaxPending = value };
                    break;
                case "maxrunning":
                    limit = limit with { MaxRunning = value };
                    break;
                case "maxcpus":
                    limit = limit with { MaxCpus = value };
                    break;
                default:
                    error = $"'{word}' is not a user limit; use MaxPending=N, MaxRunning=N or MaxCpus=N (N a whole number or UNLIMITED)";
                    return false;
            }
        }

        return true;
    }
}
