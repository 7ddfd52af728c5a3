using System.Diagnostics;
using Conductor.Agent.Monitoring;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Agent.Execution;

/// <summary>The stages of one attempt, each recorded as a job event with its time.</summary>
public enum ExecutionStage
{
    Initialized,
    Loaded,
    ResourcesAllocated,
    Prepared,
    Running,
    Completed,
    Failed,
    CleanedUp,
}

/// <summary>
/// Everything about one running attempt of a job, in one place: the job, its allocation, its process (pid and
/// start time), paths, environment, timing, usage, error, exit code and why it was stopped. Every step of the
/// pipeline reads and writes this.
/// </summary>
public sealed class JobExecutionContext
{
    private readonly List<AgentEvent> _pendingEvents = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public JobExecutionContext(JobLaunch launch, TimeProvider time, CancellationToken detach)
    {
        Launch = launch;
        _time = time;
        Detach = detach;
        Stopwatch = Stopwatch.StartNew();
        StartTime = time.GetUtcNow();
    }

    public JobLaunch Launch { get; }
    public JobId JobId => Launch.JobId;
    public int Attempt => Launch.Attempt;

    /// <summary>Cancelled when the agent stops watching jobs (shutdown without drain); the job itself goes on.</summary>
    public CancellationToken Detach { get; }

    public ExecutionStage Stage { get; private set; } = ExecutionStage.Initialized;
    public Stopwatch Stopwatch { get; }
    public DateTimeOffset StartTime { get; }

    /// <summary>The CPUs the job is pinned to (the node's core numbers mapped onto the machine's CPUs).</summary>
    public IReadOnlyList<int> CpuIds { get; set; } = [];

    public IJobCgroup? Cgroup { get; set; }

    public JobDirectory? Directory { get; set; }
    public string? StdoutPath { get; set; }
    public string? StderrPath { get; set; }
    public IReadOnlyDictionary<string, string> Environment { get; set; } = new Dictionary<string, string>();
    public LaunchRequest? Request { get; set; }

    /// <summary>The session leader (the job's wrapper) once launched or adopted.</summary>
    public LaunchedProcess? Process { get; private set; }

    public JobRun? Run { get; private set; }

    /// <summary>True when this attempt was found running after a restart rather than launched now.</summary>
    public bool Adopted { get; init; }

    /// <summary>The running wrapper of an adopted attempt, and when the attempt started.</summary>
    public LaunchedProcess? AdoptedProcess { get; set; }
    public DateTimeOffset? AdoptedLaunchTime { get; set; }

    public RunResult? Result { get; set; }
    public JobOutcome? Outcome { get; set; }
    public Exception? Error { get; set; }
    public ExitCode? ExitCode => Outcome?.ExitCode;

    /// <summary>Peak memory of the whole process tree, in KiB, and its CPU time, as the monitor and the kernel saw them.</summary>
    public long MaxRssKiB { get; private set; }
    public double CpuSeconds { get; private set; }

    /// <summary>Completes when the process has started (or the attempt ended without one).</summary>
    public Task Started => _started.Task;

    public TimeSpan Elapsed => Stopwatch.Elapsed;

    public void SetRun(JobRun run)
    {
        Run = run;
        Process = run.Process;
        _started.TrySetResult();
    }

    internal void NoProcess() => _started.TrySetResult();

    public void RecordUsage(long rssKiB, double cpuSeconds)
    {
        lock (_lock)
        {
            MaxRssKiB = Math.Max(MaxRssKiB, rssKiB);
            CpuSeconds = Math.Max(CpuSeconds, cpuSeconds);
        }
    }

    /// <summary>Enters a stage and records it as an event.</summary>
    public void EnterStage(ExecutionStage stage)
    {
        Stage = stage;
        AddEvent(JobEventKind.Stage, stage.ToString());
    }

    /// <summary>Records an event; it is written to the store with the next launch or finish record.</summary>
    public void AddEvent(JobEventKind kind, string? detail)
    {
        lock (_lock)
        {
            _pendingEvents.Add(new AgentEvent(_time.GetUtcNow(), kind, detail));
        }
    }

    /// <summary>The events not written yet, handed over to be written.</summary>
    public IReadOnlyList<AgentEvent> TakeEvents()
    {
        lock (_lock)
        {
            var events = _pendingEvents.ToList();
            _pendingEvents.Clear();
            return events;
        }
    }

    /// <summary>Puts events back when writing them failed.</summary>
    public void ReturnEvents(IReadOnlyList<AgentEvent> events)
    {
        lock (_lock)
        {
            _pendingEvents.InsertRange(0, events);
        }
    }
}
