namespace Conductor.Core.Scheduling;

/// <summary>
/// The knobs of the policy, as Slurm's priority/multifactor and backfill name them. Every factor is a number in
/// [0, 1] times its weight; nice is subtracted as it is.
/// </summary>
public sealed record PolicyOptions
{
    public static PolicyOptions Default { get; } = new();

    /// <summary>How many blocked jobs of each partition get a reservation (Slurm's bf_max_job_part); at least 1.</summary>
    public int BackfillDepth { get; init; } = 8;

    public double AgeWeight { get; init; } = 1000;
    public double FairShareWeight { get; init; } = 10000;
    /// <summary>Larger jobs first when positive; 0 by default, as in Slurm, so equal jobs keep their submit order.</summary>
    public double JobSizeWeight { get; init; }
    public double PartitionWeight { get; init; } = 1000;

    /// <summary>The age at which the age factor reaches 1 (Slurm's PriorityMaxAge).</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary>What one GPU-second counts for, in CPU-seconds, in an account's usage.</summary>
    public double GpuUsageWeight { get; init; } = 10;

    /// <summary>
    /// A running job counts in its account's usage for its CPUs (and weighted GPUs) times its time limit, capped at
    /// this long: what it is expected to use. Without it a pass would start every job of whichever account comes first.
    /// </summary>
    public TimeSpan RunningChargeCap { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Partition priority tiers; a partition not listed is tier 0.</summary>
    public IReadOnlyDictionary<string, int> PartitionTiers { get; init; } = new Dictionary<string, int>(StringComparer.Ordinal);
}

/// <summary>A pending job's priority and the factors it is made of (what <c>conductor show</c> lists).</summary>
public sealed record PriorityFactors(double Age, double FairShare, double JobSize, double Partition, int Nice, long Priority);

/// <summary>
/// Fair-share by account, Slurm's classic formula with equal shares: <c>2^(-usage/share)</c>, where usage is the
/// account's part of all usage and share is one over the number of accounts. Usage is what ended jobs used (decayed,
/// given in the snapshot) plus what running jobs are expected to use; a pass charges each job it starts, so the
/// jobs of two accounts interleave.
/// </summary>
public sealed class FairShare
{
    private readonly Dictionary<string, double> _usage = new(StringComparer.Ordinal);
    private readonly PolicyOptions _options;
    private double _total;

    public FairShare(SchedulerSnapshot snapshot, PolicyOptions options)
    {
        _options = options;
        foreach (var (account, usage) in snapshot.AccountUsage)
        {
            Charge(account, Math.Max(0, usage));
        }

        foreach (var node in snapshot.Nodes)
        {
            foreach (var allocation in node.Allocations)
            {
                if (allocation.Account is { } account)
                {
                    var expected = allocation.ExpectedEnd is { } end && allocation.Start is { } start ? end - start : options.RunningChargeCap;
                    Charge(account, Cost(allocation.Cores.Count, allocation.GresDevices.Count(d => d.Name == GresDevice.Gpu), expected));
                }
            }
        }

        // Every account with a pending job takes part. The store hands out one string per account and the jobs of an
        // account mostly come together, so a run of them costs one look-up, not one per job.
        string? last = null;
        foreach (var job in snapshot.Pending)
        {
            if (!ReferenceEquals(job.Account, last))
            {
                _usage.TryAdd(job.Account, 0);
                last = job.Account;
            }
        }
    }

    public double Usage(string account) => _usage.GetValueOrDefault(account);

    /// <summary>Counts charges, so that a reader knows when the factors it holds are stale.</summary>
    public int Version { get; private set; }

    public double Factor(string account)
    {
        if (_total <= 0)
        {
            return 1;
        }

        var share = 1.0 / Math.Max(1, _usage.Count);
        return Math.Pow(2, -(Usage(account) / _total) / share);
    }

    /// <summary>Counts a job the pass starts in its account's usage.</summary>
    public void Charge(PendingJob job) => Charge(job.Account, Cost(job.Cpus, job.GresRequest.Gpus, job.TimeLimit));

    private void Charge(string account, double amount)
    {
        _usage[account] = _usage.GetValueOrDefault(account) + amount;
        _total += amount;
        Version++;
    }

    private double Cost(int cpus, int gpus, TimeSpan? duration)
    {
        var seconds = Math.Min((duration ?? _options.RunningChargeCap).TotalSeconds, _options.RunningChargeCap.TotalSeconds);
        return (cpus + (_options.GpuUsageWeight * gpus)) * Math.Max(0, seconds);
    }
}

/// <summary>Computes multifactor priorities for one pass: age, fair-share, job size, partition tier and nice.</summary>
public sealed class PriorityModel
{
    private readonly PolicyOptions _options;
    private readonly DateTimeOffset _now;
    private readonly int _maxNodeCpus;
    private readonly int _maxTier;
    private readonly long _maxAgeTicks;

    public PriorityModel(SchedulerSnapshot snapshot, DateTimeOffset now, PolicyOptions options)
    {
        _options = options;
        _now = now;
        _maxNodeCpus = Math.Max(1, snapshot.Nodes.Count == 0 ? 1 : snapshot.Nodes.Max(n => n.Cpus));
        _maxAgeTicks = options.MaxAge.Ticks;
        _maxTier = Math.Max(0, options.PartitionTiers.Count == 0 ? 0 : options.PartitionTiers.Values.Max());
        FairShare = new FairShare(snapshot, options);
    }

    public FairShare FairShare { get; }

    /// <summary>Every part of the priority but fair-share, which changes as the pass charges accounts.</summary>
    public double WithoutFairShare(PendingJob job)
    {
        // Called for every pending job of every pass: no allocation, the common factors only when weighted.
        var priority = (double)job.Priority;
        if (_options.AgeWeight != 0)
        {
            priority += _options.AgeWeight * Age(job);
        }

        if (_options.JobSizeWeight != 0)
        {
            priority += _options.JobSizeWeight * Math.Clamp((double)job.Cpus / _maxNodeCpus, 0, 1);
        }

        if (_maxTier != 0 && _options.PartitionWeight != 0)
        {
            priority += _options.PartitionWeight * _options.PartitionTiers.GetValueOrDefault(job.Partition) / _maxTier;
        }

        return priority;
    }

    private double Age(PendingJob job) =>
        _maxAgeTicks <= 0 ? 1 : Math.Clamp((double)(_now - job.SubmitTime).Ticks / _maxAgeTicks, 0, 1);

    public double FairShareTerm(string account) => _options.FairShareWeight * FairShare.Factor(account);

    public PriorityFactors Factors(PendingJob job) => Factors(job, FairShare.Factor(job.Account));

    private PriorityFactors Factors(PendingJob job, double fairShare)
    {
        var age = Age(job);
        var size = Math.Clamp((double)job.Cpus / _maxNodeCpus, 0, 1);
        var tier = _maxTier == 0 ? 0 : (double)_options.PartitionTiers.GetValueOrDefault(job.Partition) / _maxTier;
        var priority = (_options.AgeWeight * age) + (_options.FairShareWeight * fairShare) + (_options.JobSizeWeight * size) +
            (_options.PartitionWeight * tier) - job.Nice;
        return new PriorityFactors(age, fairShare, size, tier, job.Nice, (long)Math.Round(priority));
    }
}
