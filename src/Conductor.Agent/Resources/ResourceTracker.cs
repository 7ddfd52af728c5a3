using Conductor.Agent.Hosting;
using Conductor.Agent.Pipeline;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Resources;

/// <summary>A change of what is allocated on the node.</summary>
public sealed record ResourceChange(NodeName Node, JobId JobId, int Cpus, int AllocatedCpus, int TotalCpus)
{
    public double Utilization => TotalCpus == 0 ? 0 : (double)AllocatedCpus / TotalCpus;
}

/// <summary>Told of every allocation and release on the node, outside any lock.</summary>
public interface IResourceObserver
{
    void OnAllocated(ResourceChange change);

    void OnReleased(ResourceChange change);
}

/// <summary>
/// Counts the CPUs the node's running jobs hold and fans each change out to the registered observers (logging,
/// metrics, the utilisation alert). The count changes under a lock; observers are called after it is released,
/// each on its own, so a slow or failing observer neither blocks nor breaks the others.
/// </summary>
public sealed class ResourceTracker(IEnumerable<IResourceObserver> observers, IOptions<AgentOptions> options, ILogger<ResourceTracker> logger)
{
    private readonly IResourceObserver[] _observers = observers.ToArray();
    private readonly Dictionary<JobId, int> _held = [];
    private readonly Lock _lock = new();
    private int _allocated;

    public int AllocatedCpus
    {
        get
        {
            lock (_lock)
            {
                return _allocated;
            }
        }
    }

    public void Allocate(JobId job, int cpus)
    {
        ResourceChange change;
        lock (_lock)
        {
            if (!_held.TryAdd(job, cpus))
            {
                return;
            }

            _allocated += cpus;
            change = Change(job, cpus);
        }

        Notify(change, allocated: true);
    }

    public void Release(JobId job)
    {
        ResourceChange change;
        lock (_lock)
        {
            if (!_held.Remove(job, out var cpus))
            {
                return;
            }

            _allocated -= cpus;
            change = Change(job, cpus);
        }

        Notify(change, allocated: false);
    }

    private ResourceChange Change(JobId job, int cpus) => new(options.Value.Node(), job, cpus, _allocated, options.Value.Cpus);

    private void Notify(ResourceChange change, bool allocated)
    {
        foreach (var observer in _observers)
        {
            try
            {
                if (allocated)
                {
                    observer.OnAllocated(change);
                }
                else
                {
                    observer.OnReleased(change);
                }
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Resource observer {Observer} failed", observer.GetType().Name);
            }
        }
    }
}

public sealed class LoggingResourceObserver(ILogger<LoggingResourceObserver> logger) : IResourceObserver
{
    public void OnAllocated(ResourceChange change) =>
        logger.LogDebug("Node {Node}: job {JobId} took {Cpus} CPUs; {Allocated}/{Total} allocated",
            change.Node, change.JobId, change.Cpus, change.AllocatedCpus, change.TotalCpus);

    public void OnReleased(ResourceChange change) =>
        logger.LogDebug("Node {Node}: job {JobId} released {Cpus} CPUs; {Allocated}/{Total} allocated",
            change.Node, change.JobId, change.Cpus, change.AllocatedCpus, change.TotalCpus);
}

public sealed class MetricsResourceObserver(AgentMetrics metrics) : IResourceObserver
{
    public void OnAllocated(ResourceChange change) => metrics.CpusAllocated.Add(change.Cpus, Tag(change));

    public void OnReleased(ResourceChange change) => metrics.CpusAllocated.Add(-change.Cpus, Tag(change));

    private static KeyValuePair<string, object?> Tag(ResourceChange change) => new("node", change.Node.Value);
}

/// <summary>Warns once when the node's utilisation rises to the threshold (default 90%), and again only after it fell below.</summary>
public sealed class UtilizationAlertObserver(IOptions<AgentOptions> options, ILogger<UtilizationAlertObserver> logger) : IResourceObserver
{
    private int _alerting;

    public int Alerts { get; private set; }

    public void OnAllocated(ResourceChange change)
    {
        if (change.Utilization >= options.Value.UtilizationAlertThreshold && Interlocked.Exchange(ref _alerting, 1) == 0)
        {
            Alerts++;
            logger.LogWarning("Node {Node} is {Utilization:P0} allocated ({Allocated} of {Total} CPUs), at or over the alert threshold of {Threshold:P0}",
                change.Node, change.Utilization, change.AllocatedCpus, change.TotalCpus, options.Value.UtilizationAlertThreshold);
        }
    }

    public void OnReleased(ResourceChange change)
    {
        if (change.Utilization < options.Value.UtilizationAlertThreshold)
        {
            Interlocked.Exchange(ref _alerting, 0);
        }
    }
}
