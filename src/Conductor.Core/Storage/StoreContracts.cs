using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Core.Storage;

public sealed record NewJob(JobSpec Spec, string Script, DateTimeOffset SubmitTime);

/// <summary>A filter and keyset page over jobs, ordered by id.</summary>
public sealed record JobQuery
{
    public IReadOnlyList<JobState>? States { get; init; }
    public string? Account { get; init; }

    /// <summary>Only jobs of this owner (<see cref="JobSpec.User"/>).</summary>
    public string? User { get; init; }

    public string? Partition { get; init; }
    public NodeName? Node { get; init; }

    /// <summary>The keyset cursor: only jobs after this id (before it when <see cref="Descending"/>).</summary>
    public JobId? After { get; init; }

    public bool Descending { get; init; }
    public int Limit { get; init; } = 100;

    /// <summary>
    /// The most a page may hold in memory, roughly: a page stops early at the job that reaches it (whatever
    /// <see cref="Limit"/> says), so jobs with large environments never make a list costly.
    /// </summary>
    public const long MaxPageBytes = 16L * 1024 * 1024;

    /// <summary>What a job weighs in a page: a fixed part, and its environment, arguments and paths as UTF-16.</summary>
    public static long SizeOf(JobRecord job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var spec = job.Spec;
        var chars = spec.Environment.Sum(kv => (long)kv.Key.Length + kv.Value.Length) + spec.Arguments.Sum(a => (long)a.Length) +
            (spec.WorkDir?.Length ?? 0) + (job.StdoutPath?.Length ?? 0) + (job.StderrPath?.Length ?? 0) + (job.ErrorMessage?.Length ?? 0);
        return 1024 + 2 * chars;
    }

    /// <summary>Whether a page stopped before its end: it is full, or it reached <see cref="MaxPageBytes"/>.</summary>
    public bool HasMoreAfter(IReadOnlyList<JobRecord> page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.Count > 0 && (page.Count >= Limit || page.Sum(SizeOf) >= MaxPageBytes);
    }
}

public enum CancelOutcome
{
    /// <summary>The job was pending or running and is CANCELLED now.</summary>
    Cancelled,

    /// <summary>The job had already ended; nothing changed.</summary>
    AlreadyTerminal,

    NotFound,
}

public sealed record CancelResult(CancelOutcome Outcome, JobState State, NodeName? Node);

public enum HoldOutcome
{
    /// <summary>The pending (or running) job is held, or released, now.</summary>
    Changed,

    /// <summary>The job already was; nothing changed.</summary>
    Unchanged,

    /// <summary>The job has ended: only a pending or running job can be held or released.</summary>
    NotPending,

    /// <summary>The job is held by the admin, and only the admin may release (or change) that hold.</summary>
    Forbidden,

    NotFound,
}

public enum DependencyChangeOutcome
{
    /// <summary>The pending job's dependency is replaced (or removed).</summary>
    Changed,

    /// <summary>The new dependency would make the job wait for itself, directly or through the jobs it names.</summary>
    Cycle,

    /// <summary>Only a pending job's dependency can change.</summary>
    NotPending,

    NotFound,
}

/// <summary>
/// The fields an update changes (null: unchanged), validated by the caller against the job as it was in
/// <see cref="ExpectedState"/>. A running job may change only its time limit.
/// </summary>
public sealed record JobChanges(JobState ExpectedState, int ExpectedAttempt)
{
    public string? Name { get; init; }
    public string? Partition { get; init; }
    public int? CpusPerTask { get; init; }

    /// <summary>The new memory reservation in MiB.</summary>
    public long? MemoryMiB { get; init; }

    public GresList? Gres { get; init; }

    /// <summary>The new time limit; <c>Value</c> null means UNLIMITED.</summary>
    public Change<TimeSpan?>? TimeLimit { get; init; }

    public int? Nice { get; init; }

    /// <summary>The new earliest start; <c>Value</c> null clears it.</summary>
    public Change<DateTimeOffset?>? Begin { get; init; }

    /// <summary>The new dependency, replacing the old one; <c>Value</c> null removes it.</summary>
    public Change<Dependency?>? Dependency { get; init; }

    public bool IsEmpty => Name is null && Partition is null && CpusPerTask is null && MemoryMiB is null && Gres is null &&
        TimeLimit is null && Nice is null && Begin is null && Dependency is null;
}

/// <summary>A new value for a field whose value may itself be "none".</summary>
public readonly record struct Change<T>(T Value);

public enum UpdateOutcome
{
    Updated,

    /// <summary>The job moved on (it started, ended or was requeued) since it was read: nothing changed.</summary>
    StateChanged,

    /// <summary>The new dependency would make the job wait for itself through the jobs it names: nothing changed.</summary>
    Cycle,

    NotFound,
}

/// <summary>A signal for a running job's processes, asked by <see cref="RequestedBy"/>.</summary>
/// <param name="BatchOnly">Only the batch script's shell, not every process of the job (scancel --batch).</param>
public sealed record SignalRequest(int Signal, bool BatchOnly, string RequestedBy, DateTimeOffset Time);

public enum SignalOutcome
{
    /// <summary>The signal waits for the job's agent, which delivers it at once (it is woken).</summary>
    Queued,

    NotRunning,

    NotFound,
}

public sealed record SignalResult(SignalOutcome Outcome, JobState State, NodeName? Node);

/// <summary>A signal taken by the agent of the node its job runs on.</summary>
public sealed record PendingSignal(JobId JobId, int Attempt, int Signal, bool BatchOnly, string RequestedBy, DateTimeOffset Time);

public enum RequeueOutcome
{
    /// <summary>The job is PENDING again (it had ended, or had not been launched yet).</summary>
    Requeued,

    /// <summary>The job runs: its agent stops it and puts it back in the queue.</summary>
    Requested,

    /// <summary>The job is pending already.</summary>
    Pending,

    /// <summary>The job was ended but its processes are still being stopped; it can be requeued once they are gone.</summary>
    StillEnding,

    NotFound,
}

public sealed record RequeueResult(RequeueOutcome Outcome, JobState State, NodeName? Node);

/// <summary>An operator's drain of a node: its reason, who drained it and when.</summary>
public sealed record NodeDrain(string Reason, string User, DateTimeOffset Time);

/// <summary>What a hold request asks: Slurm's <c>hold</c> by a user or by the admin (reason JobHeldUser or JobHeldAdmin), or <c>release</c>.</summary>
public enum HoldAction
{
    HoldUser,
    HoldAdmin,
    Release,
}

/// <summary>How many jobs are in each state.</summary>
public sealed record JobCounts(IReadOnlyDictionary<JobState, long> ByState)
{
    public long this[JobState state] => ByState.TryGetValue(state, out var n) ? n : 0;

    public long Total => ByState.Values.Sum();
}

/// <summary>How many tasks of an array are in each state.</summary>
public sealed record ArrayTaskCounts(IReadOnlyDictionary<JobState, long> ByState)
{
    public long this[JobState state] => ByState.TryGetValue(state, out var n) ? n : 0;

    public long Total => ByState.Values.Sum();

    /// <summary>Tasks not ended yet: pending (started or not) and running.</summary>
    public long Unfinished => this[JobState.Pending] + this[JobState.Running];

    /// <summary>Tasks that ended other than COMPLETED.</summary>
    public long NotCompleted => Total - Unfinished - this[JobState.Completed];
}

/// <summary>Submitting, reading and cancelling jobs: what the API needs.</summary>
public interface IJobStore
{
    Task<JobId> SubmitAsync(NewJob job, CancellationToken ct);

    /// <summary>
    /// Submits several jobs in one transaction (what <see cref="SubmitAsync"/> does for each, in the order given):
    /// their ids in that order, or nothing at all when any insert fails.
    /// </summary>
    Task<IReadOnlyList<JobId>> SubmitManyAsync(IReadOnlyList<NewJob> jobs, CancellationToken ct);

    Task<JobRecord?> GetAsync(JobId id, CancellationToken ct);

    Task<IReadOnlyList<JobRecord>> ListAsync(JobQuery query, CancellationToken ct);

    Task<IReadOnlyList<JobEvent>> GetEventsAsync(JobId id, CancellationToken ct);

    /// <summary>
    /// PENDING or RUNNING → CANCELLED in one guarded write; a running job keeps its allocation until its agent
    /// reports the processes gone. Cancelling an ended job changes nothing.
    /// </summary>
    Task<CancelResult> CancelAsync(JobId id, DateTimeOffset now, string detail, CancellationToken ct);

    /// <summary>
    /// Writes the changed fields of a job in one guarded write with an <c>updated</c> event, when the job is still in
    /// <see cref="JobChanges.ExpectedState"/> (and attempt, for a running job): what the caller validated against.
    /// </summary>
    Task<UpdateOutcome> UpdateAsync(JobId id, JobChanges changes, DateTimeOffset now, string detail, CancellationToken ct);

    /// <summary>
    /// Asks for a signal to the processes of a RUNNING job (scancel --signal); the agent of its node delivers it and
    /// records it as an event. Only a running job can be signalled.
    /// </summary>
    Task<SignalResult> SignalAsync(JobId id, SignalRequest signal, CancellationToken ct);

    /// <summary>
    /// Puts a job back in the queue as a new attempt (scontrol requeue): an ended job (whose processes are gone) or a
    /// placed job never launched goes back to PENDING at once; a running one is marked, and its agent stops it and
    /// reports it back to PENDING. With <paramref name="hold"/> (scontrol requeuehold) the job comes back held, with
    /// reason <see cref="Jobs.PendingReasons.RequeuedHeld"/>, until released.
    /// </summary>
    Task<RequeueResult> RequeueAsync(JobId id, DateTimeOffset now, string detail, bool hold, CancellationToken ct);

    /// <summary>
    /// Holds or releases a PENDING job in one guarded write with an event; the scheduler skips a held job, as it
    /// skips one submitted with hold. A RUNNING job takes the hold (or its release) too and keeps running: a requeue
    /// brings it back held. An admin's hold is released or changed only when <paramref name="asAdmin"/>.
    /// </summary>
    Task<HoldOutcome> SetHoldAsync(JobId id, HoldAction action, bool asAdmin, DateTimeOffset now, string detail, CancellationToken ct);

    /// <summary>
    /// Replaces a PENDING job's dependency (null removes it) with an event, unless it would make the job wait for
    /// itself: directly, or through the dependencies of the jobs it names.
    /// </summary>
    Task<DependencyChangeOutcome> SetDependencyAsync(JobId id, Dependency? dependency, DateTimeOffset now, string detail, CancellationToken ct);

    Task<JobCounts> CountByStateAsync(CancellationToken ct);

    /// <summary>Task <paramref name="task"/> of an array: its own row, or the array's row seen as that task while it is unstarted.</summary>
    Task<JobRecord?> GetTaskAsync(JobId array, int task, CancellationToken ct);

    /// <summary>
    /// The rows a reference acts on: a job; a whole array (its row and its pending or running tasks); or some tasks of an
    /// array. With <paramref name="splitUnstarted"/>, named tasks that have not started are first split off into
    /// PENDING rows of their own, so that one of them can be cancelled or held alone. Empty when nothing matches.
    /// </summary>
    Task<IReadOnlyList<JobId>> ResolveAsync(JobRef reference, bool splitUnstarted, DateTimeOffset now, CancellationToken ct);

    /// <summary>How many tasks of an array are in each state (its unstarted tasks count as its row's state); null when it is no array.</summary>
    Task<ArrayTaskCounts?> GetArrayCountsAsync(JobId array, CancellationToken ct);

    /// <summary>How many PENDING jobs <paramref name="owner"/> has (held ones included): the per-user submit limit.</summary>
    Task<int> CountPendingAsync(string owner, CancellationToken ct);

    /// <summary>Deletes up to <paramref name="limit"/> ended jobs whose end is before <paramref name="endedBefore"/>, with their events; returns how many.</summary>
    Task<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken ct);
}

/// <summary>A node the watchdog declared down, and the running jobs it requeued or failed.</summary>
public sealed record DownedNode(NodeName Node, DateTimeOffset? LastHeartbeat, IReadOnlyList<JobId> Requeued, IReadOnlyList<JobId> Failed);

/// <summary>Nodes register and heartbeat; everyone can list them with their current allocations.</summary>
public interface INodeStore
{
    Task RegisterAsync(NodeRegistration node, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Records that the node's agent is alive and returns the node's state as the store sees it, or null when the
    /// node is not registered. An agent that reads <see cref="NodeState.Down"/> was declared dead: its jobs have
    /// been requeued or failed, so it stops them (fencing) and registers again.
    /// </summary>
    Task<NodeState?> HeartbeatAsync(NodeName node, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// The node watchdog's write, in one transaction: every Up node whose last heartbeat is before
    /// <paramref name="heartbeatBefore"/> becomes Down, and each of its RUNNING jobs either goes back to PENDING
    /// (when it asked for <c>requeue</c>; the next start counts a new attempt) or ends NODE_FAIL; their allocations
    /// are released. Returns the nodes it marked, with what became of their jobs.
    /// </summary>
    Task<IReadOnlyList<DownedNode>> MarkNodesDownAsync(DateTimeOffset heartbeatBefore, DateTimeOffset now, CancellationToken ct);

    /// <summary>Keeps the report of the node's last recovery at start, for operators to read.</summary>
    Task RecordRecoveryAsync(NodeName node, RecoveryReport report, CancellationToken ct);

    Task<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken ct);

    /// <summary>
    /// Drains a node (<paramref name="drain"/> given) or resumes it (null): a drained node keeps what it runs and is
    /// given nothing new, across agent restarts, until resumed. False when the node is not registered.
    /// </summary>
    Task<bool> SetDrainAsync(NodeName node, NodeDrain? drain, CancellationToken ct);
}

/// <summary>What the scheduler reads and writes.</summary>
public interface ISchedulerStore
{
    Task<SchedulerSnapshot> LoadSnapshotAsync(CancellationToken ct);

    /// <summary>
    /// A snapshot whose pending jobs are <paramref name="pending"/>'s, brought up to date in the same read: loaded whole
    /// when it has no mark yet, else only the jobs changed (by anyone) since its mark. Writes nothing.
    /// </summary>
    Task<SchedulerSnapshot> LoadSnapshotAsync(PendingSet pending, CancellationToken ct);

    /// <summary>Deletes the log of changes to pending jobs up to <paramref name="upTo"/> (a mark every reader has passed).</summary>
    Task PruneChangesAsync(ChangeMark upTo, CancellationToken ct);

    /// <summary>
    /// Commits a plan in one transaction: each start is PENDING → RUNNING (guarded) with its allocation and a
    /// scheduled event; reasons are updated. Returns the starts that won (a job cancelled meanwhile is skipped).
    /// </summary>
    Task<IReadOnlyList<JobStart>> CommitAsync(SchedulingPlan plan, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Splits unstarted array tasks off into PENDING rows of their own, as many of each array as could start now (by
    /// the nodes' free CPUs and the array's '%N' limit), never one row per unstarted task. Returns how many.
    /// </summary>
    Task<int> SplitArrayTasksAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Jobs that ran and ended after <paramref name="endedAfter"/>, oldest end first, at most <paramref name="limit"/>:
    /// what fair-share charges to their accounts.
    /// </summary>

    Task<IReadOnlyList<UsageRecord>> LoadEndedUsageAsync(DateTimeOffset endedAfter, int limit, CancellationToken ct);

    /// <summary>The owner of every pending job and what each user holds on the nodes: read only when per-user limits are set.</summary>
    Task<UserLoad> LoadUserLoadAsync(CancellationToken ct);

    /// <summary>Forgets the dependencies of jobs whose dependency is met for good (Slurm then shows <c>(null)</c>).</summary>
    Task DropDependenciesAsync(IReadOnlyList<JobId> jobs, CancellationToken ct);
}

/// <summary>What one ended job used: its CPUs and GPUs from its start to its end.</summary>
public sealed record UsageRecord(JobId JobId, string Account, int Cpus, int Gpus, DateTimeOffset Start, DateTimeOffset End);

/// <summary>A job placed on a node and waiting for its agent to launch it.</summary>
public sealed record Dispatch(JobRecord Job, string Script);

/// <summary>An event the agent saw (a stage, a signal, a warning), written with the launch or the finish it belongs to.</summary>
public sealed record AgentEvent(DateTimeOffset Time, JobEventKind Kind, string? Detail);

/// <summary>What the agent records once the process runs, with the events that led up to it.</summary>
public sealed record LaunchRecord(
    int ProcessId,
    long ProcessStartTicks,
    string StdoutPath,
    string StderrPath,
    DateTimeOffset LaunchTime,
    IReadOnlyList<AgentEvent>? Events = null);

/// <summary>The end of one attempt of a job, as its agent saw it.</summary>
public sealed record JobCompletion(
    JobId JobId,
    int Attempt,
    JobState State,
    ExitCode ExitCode,
    string? ErrorMessage,
    DateTimeOffset EndTime,
    double? CpuSeconds = null,
    long? MaxRssKiB = null,
    IReadOnlyList<AgentEvent>? Events = null);

public enum FinishOutcome
{
    /// <summary>RUNNING → the reported state; the allocation is released.</summary>
    Finished,

    /// <summary>The job had already been ended (e.g. cancelled); its exit code and usage are recorded and the allocation released.</summary>
    AlreadyEnded,

    /// <summary>The report belongs to an older attempt, or the job is gone; nothing changed.</summary>
    Stale,
}

/// <summary>A job that holds an allocation on a node, as the agent compares it with what it runs.</summary>
public sealed record NodeJob(JobId JobId, int Attempt, JobState State, bool Launched, int? ProcessId, long? ProcessStartTicks)
{
    /// <summary>The job's time limit now (an update may have changed it while the job runs); null: UNLIMITED.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>A requeue was asked: the agent stops the job and reports it back to PENDING.</summary>
    public bool RequeueRequested { get; init; }
}

/// <summary>What an agent reads and writes.</summary>
public interface IAgentStore
{
    /// <summary>Jobs placed on the node that have not been launched yet in their current attempt.</summary>
    Task<IReadOnlyList<Dispatch>> GetDispatchesAsync(NodeName node, CancellationToken ct);

    /// <summary>Every RUNNING job placed on the node, launched or not: what recovery at start looks at.</summary>
    Task<IReadOnlyList<Dispatch>> GetAssignedAsync(NodeName node, CancellationToken ct);

    /// <summary>Releases the node's allocations whose job has ended or moved on to another attempt; returns how many.</summary>
    Task<int> ReleaseStaleAllocationsAsync(NodeName node, CancellationToken ct);

    /// <summary>Records the launch of a job's current attempt; false when the job was cancelled or moved meanwhile.</summary>
    Task<bool> MarkLaunchedAsync(JobId id, int attempt, LaunchRecord launch, CancellationToken ct);

    /// <summary>Ends an attempt: guarded state write, allocation release and a finished event, in one transaction.</summary>
    Task<FinishOutcome> FinishAsync(JobCompletion completion, CancellationToken ct);

    /// <summary>Every job that holds an allocation on the node.</summary>
    Task<IReadOnlyList<NodeJob>> GetNodeJobsAsync(NodeName node, CancellationToken ct);

    Task AppendEventAsync(JobId id, JobEventKind kind, string? detail, DateTimeOffset time, CancellationToken ct);

    Task RecordUsageAsync(JobId id, int attempt, double cpuSeconds, long maxRssKiB, CancellationToken ct);

    /// <summary>
    /// Takes (removes and returns) the signals asked for the jobs allocated on the node, oldest first; a signal for a
    /// job whose process has not started yet waits until it has.
    /// </summary>
    Task<IReadOnlyList<PendingSignal>> TakeSignalsAsync(NodeName node, CancellationToken ct);
}
