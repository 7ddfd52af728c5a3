using System.Threading.Channels;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;
using Conductor.Server.Scheduling;
using Prometheus;

namespace Conductor.Server.Hosting;

/// <summary>
/// The server's Prometheus series, in a registry of its own (no process-wide state), which also carries the
/// .NET runtime's process metrics and every System.Diagnostics.Metrics instrument of a meter named Conductor.*
/// (the agent's included) and ASP.NET Core's request metrics.
/// <list type="bullet">
/// <item>Job counts by state, queue depth and per-node CPUs and memory are read from the store when scraped, at most once a second.</item>
/// <item>Scheduler pass time is observed on every pass.</item>
/// <item>Submit → start latency is observed when the scheduler commits a start: the commit time is the job's start time.</item>
/// <item>Job duration (start → end, by final state) is observed for every job the scheduler started or saw holding an
/// allocation, once a later pass sees its allocation gone: the ended job is then read once from the store.</item>
/// </list>
/// </summary>
public sealed class ConductorMetrics : ISchedulerPassObserver, IDisposable
{
    private static readonly TimeSpan ScrapeCacheLifetime = TimeSpan.FromSeconds(1);

    private readonly IJobStore _jobs;
    private readonly INodeStore _nodes;
    private readonly TimeProvider _time;
    private readonly IDisposable _meterAdapter;
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private readonly Channel<JobId> _ended = Channel.CreateUnbounded<JobId>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Gauge _jobsByState;
    private readonly Gauge _queueDepth;
    private readonly Gauge _nodeCpus;
    private readonly Gauge _nodeCpusAllocated;
    private readonly Gauge _nodeMemory;
    private readonly Gauge _nodeMemoryAllocated;
    private readonly Gauge _nodeUp;
    private readonly Gauge _nodeGres;
    private readonly Gauge _nodeGresAllocated;
    private readonly Histogram _passSeconds;
    private readonly Histogram _startLatency;
    private readonly Histogram _jobDuration;
    private readonly Lock _passLock = new();
    private HashSet<JobId> _holding = [];
    private DateTimeOffset _refreshedAt = DateTimeOffset.MinValue;

    public ConductorMetrics(IJobStore jobs, INodeStore nodes, TimeProvider time)
    {
        _jobs = jobs;
        _nodes = nodes;
        _time = time;
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        DotNetStats.Register(Registry);
        _meterAdapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = Registry,
            MetricFactory = factory,
            InstrumentFilterPredicate = i => i.Meter.Name.StartsWith("Conductor", StringComparison.Ordinal) || i.Meter.Name == "Microsoft.AspNetCore.Hosting",
        });

        _jobsByState = factory.CreateGauge("conductor_jobs", "Jobs by state, all accounts.", "state");
        _queueDepth = factory.CreateGauge("conductor_queue_depth", "Jobs waiting to start (PENDING).");
        _nodeCpus = factory.CreateGauge("conductor_node_cpus", "CPUs a node offers to jobs.", "node");
        _nodeCpusAllocated = factory.CreateGauge("conductor_node_cpus_allocated", "CPUs allocated to jobs on a node.", "node");
        _nodeMemory = factory.CreateGauge("conductor_node_memory_bytes", "Memory a node offers to jobs.", "node");
        _nodeMemoryAllocated = factory.CreateGauge("conductor_node_memory_allocated_bytes", "Memory reserved by jobs on a node.", "node");
        _nodeUp = factory.CreateGauge("conductor_node_up", "1 when the node is up, else 0.", "node");
        _nodeGres = factory.CreateGauge("conductor_node_gres", "Generic resources (GPUs, ...) a node offers to jobs.", "node", "name");
        _nodeGresAllocated = factory.CreateGauge("conductor_node_gres_allocated", "Generic resources allocated to jobs on a node.", "node", "name");
        _passSeconds = factory.CreateHistogram("conductor_scheduler_pass_seconds", "Time one scheduling pass took: load, plan, commit.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 18) });
        _startLatency = factory.CreateHistogram("conductor_job_start_latency_seconds", "From submit to start (allocation committed), per started job.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 24) });
        _jobDuration = factory.CreateHistogram("conductor_job_duration_seconds", "From start to end of the jobs that ran, by final state.",
            new HistogramConfiguration { LabelNames = ["state"], Buckets = Histogram.ExponentialBuckets(0.01, 2, 24) });

        foreach (var state in JobStates.All)
        {
            _jobsByState.WithLabels(state.ToSlurmName()).Set(0);
        }

        Registry.AddBeforeCollectCallback(RefreshAsync);
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Jobs whose allocation went away, for <see cref="JobDurationRecorder"/> to look up.</summary>
    public ChannelReader<JobId> EndedJobs => _ended.Reader;

    public void OnPass(SchedulerPass pass)
    {
        _passSeconds.Observe(pass.Duration.TotalSeconds);
        if (pass.Started.Count > 0)
        {
            var started = pass.Started.Select(s => s.JobId).ToHashSet();
            foreach (var job in pass.Snapshot.Pending)
            {
                if (started.Contains(job.Id))
                {
                    _startLatency.Observe(Math.Max(0, (pass.CommitTime - job.SubmitTime).TotalSeconds));
                }
            }
        }

        lock (_passLock)
        {
            TrackAllocations(pass);
        }
    }

    private void TrackAllocations(SchedulerPass pass)
    {
        var holding = new HashSet<JobId>();
        foreach (var node in pass.Snapshot.Nodes)
        {
            foreach (var allocation in node.Allocations)
            {
                holding.Add(allocation.JobId);
            }
        }

        foreach (var id in _holding)
        {
            if (!holding.Contains(id))
            {
                _ended.Writer.TryWrite(id);
            }
        }

        foreach (var start in pass.Started)
        {
            holding.Add(start.JobId);
        }

        _holding = holding;
    }

    /// <summary>Observes the duration of a job that ended; a job that went back to PENDING (requeued) is not counted.</summary>
    public async Task RecordEndAsync(JobId id, CancellationToken ct)
    {
        var job = await _jobs.GetAsync(id, ct);
        if (job is { StartTime: { } start, EndTime: { } end } && job.State.IsTerminal())
        {
            _jobDuration.WithLabels(job.State.ToSlurmName()).Observe(Math.Max(0, (end - start).TotalSeconds));
        }
    }

    private async Task RefreshAsync(CancellationToken ct)
    {
        await _refresh.WaitAsync(ct);
        try
        {
            var now = _time.GetUtcNow();
            if (now - _refreshedAt < ScrapeCacheLifetime)
            {
                return;
            }

            var counts = await _jobs.CountByStateAsync(ct);
            foreach (var state in JobStates.All)
            {
                _jobsByState.WithLabels(state.ToSlurmName()).Set(counts[state]);
            }

            _queueDepth.Set(counts[JobState.Pending]);
            foreach (var node in await _nodes.ListAsync(ct))
            {
                var name = node.Name.Value;
                _nodeCpus.WithLabels(name).Set(node.Cpus);
                _nodeCpusAllocated.WithLabels(name).Set(node.AllocatedCpus);
                _nodeMemory.WithLabels(name).Set(node.MemoryMiB * 1024.0 * 1024);
                _nodeMemoryAllocated.WithLabels(name).Set(node.AllocatedMemoryMiB * 1024.0 * 1024);
                _nodeUp.WithLabels(name).Set(node.State == Core.Nodes.NodeState.Up ? 1 : 0);
                foreach (var gres in node.Gres.Items.Select(i => i.Name).Distinct())
                {
                    _nodeGres.WithLabels(name, gres).Set(node.Gres.Count(gres));
                    _nodeGresAllocated.WithLabels(name, gres).Set(node.AllocatedDevices.Count(d => d.Name == gres));
                }
            }

            _refreshedAt = now;
        }
        finally
        {
            _refresh.Release();
        }
    }

    public void Dispose()
    {
        _meterAdapter.Dispose();
        _refresh.Dispose();
        _ended.Writer.TryComplete();
    }
}

/// <summary>Reads each ended job once, off the scheduler's loop, to observe its duration.</summary>
public sealed class JobDurationRecorder(ConductorMetrics metrics, ILogger<JobDurationRecorder> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var id in metrics.EndedJobs.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await metrics.RecordEndAsync(id, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogDebug(e, "Could not read ended job {JobId} for its duration", id);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
