namespace Conductor.Core.Jobs;

/// <summary>
/// How well a job used what it was given, as Slurm's <c>seff</c> reports it: CPU efficiency is the CPU time its
/// processes used over the core-walltime it held (elapsed × CPUs); memory efficiency is its peak resident memory
/// over the memory it reserved. Either is null when its inputs are not known (no usage recorded, no time elapsed,
/// no memory reserved). For a running job the figures are those of its usage so far.
/// </summary>
public sealed record JobEfficiency(
    int Cpus,
    TimeSpan Elapsed,
    TimeSpan CoreWalltime,
    double? CpuSeconds,
    double? CpuPercent,
    long? MaxRssKiB,
    long? MemoryRequestedKiB,
    double? MemoryPercent)
{
    public static JobEfficiency Of(JobRecord job, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(job);

        // The cores the job was pinned to are what it held (an exclusive job holds the whole node); before it is
        // placed, what it asked for.
        var cpus = job.Cores.Count > 0 ? job.Cores.Count : job.Spec.TotalCpus;
        var elapsed = job.Elapsed(now);
        var coreWalltime = elapsed * cpus;
        var requestedKiB = job.Spec.MemoryMiB is { } mib and > 0 ? mib * 1024 : (long?)null;
        return new JobEfficiency(
            cpus,
            elapsed,
            coreWalltime,
            job.CpuSeconds,
            Percent(job.CpuSeconds, coreWalltime.TotalSeconds),
            job.MaxRssKiB,
            requestedKiB,
            Percent(job.MaxRssKiB, requestedKiB));
    }

    /// <summary><paramref name="part"/> of <paramref name="whole"/> in percent, two decimals; null when either is unknown or the whole is zero.</summary>
    public static double? Percent(double? part, double? whole) =>
        part is { } p && whole is { } w && w > 0 ? Math.Round(p * 100.0 / w, 2) : null;
}
