using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;

namespace Conductor.Core.Scheduling;

/// <summary>
/// Answers "can this job ever run here?" at submit time, and says why not. The two other fit questions (can it start
/// now, when at the earliest) need the running jobs and reservations of a pass: <see cref="NodeTimeline"/> answers them.
/// </summary>
public static class FitCheck
{
    /// <summary>Returns null when some node of the job's partition could hold the job when empty; else the field and reason.</summary>
    public static (string Field, string Message)? WhyNever(JobSpec spec, IReadOnlyList<NodeRecord> nodes)
    {
        var inPartition = nodes.Where(n => n.Partitions.Contains(spec.Partition, StringComparer.Ordinal)).ToList();
        if (inPartition.Count == 0)
        {
            var known = nodes.SelectMany(n => n.Partitions).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            return ("partition", known.Count == 0
                ? $"'{spec.Partition}' has no nodes: no node is registered yet"
                : $"'{spec.Partition}' does not exist; the partitions are {string.Join(", ", known)}");
        }

        var maxCpus = inPartition.Max(n => n.Cpus);
        if (spec.TotalCpus > maxCpus)
        {
            return ("cpus_per_task", $"asks for {spec.TotalCpus} CPUs in all, but the largest node of partition '{spec.Partition}' has {maxCpus}");
        }

        if (spec.MemoryMiB is { } memory)
        {
            var fits = inPartition.Where(n => n.Cpus >= spec.TotalCpus).ToList();
            var maxMemory = fits.Max(n => n.MemoryMiB);
            if (memory > maxMemory)
            {
                return ("memory_per_node", $"asks for {MemorySize.Format(memory)}, but the largest node of partition '{spec.Partition}' with {spec.TotalCpus} CPUs has {MemorySize.Format(maxMemory)}");
            }
        }

        if (!spec.Gres.IsEmpty)
        {
            var sized = inPartition.Where(n => n.Cpus >= spec.TotalCpus && (spec.MemoryMiB is not { } m || n.MemoryMiB >= m)).ToList();
            if (!sized.Any(n => n.Gres.Covers(spec.Gres)))
            {
                var largest = sized.Select(n => n.Gres).Where(g => !g.IsEmpty).MaxBy(g => g.Count(spec.Gres.Items[0].Name));
                return ("gres", largest is null
                    ? $"asks for {spec.Gres}, but no node of partition '{spec.Partition}' that could hold the job has any generic resources"
                    : $"asks for {spec.Gres}, but the best node of partition '{spec.Partition}' that could hold the job has {largest}");
            }
        }

        return null;
    }
}
