using System.Diagnostics;
using System.Globalization;
using System.Text;
using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Monitoring;
using Conductor.Agent.Processes;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace Conductor.Agent.Recovery;

/// <summary>A live job recovery hands back to the agent to watch.</summary>
public sealed record Adoption(Dispatch Dispatch, LaunchedProcess Process, bool StopForTimeLimit);

/// <summary>
/// Recovery when an agent starts: looks at every job the store still places on this node, decides with the
/// composed strategies, and carries the decisions out — adopt the live ones, record the ends that happened while
/// the agent was away, fail or requeue the orphans, requeue the never-started, kill what is left of jobs that
/// were cancelled meanwhile, release stale allocations. The result is logged and kept with the node.
/// </summary>
public sealed class RecoveryService(
    IAgentStore agentStore,
    INodeStore nodeStore,
    ISignalSender signals,
    ICgroupManager cgroups,
    IRecoveryStrategy strategy,
    AgentResilience resilience,
    TimeProvider time,
    IOptions<AgentOptions> options,
    ILogger<RecoveryService> logger)
{
    private readonly AgentOptions _options = options.Value;

    public Task<(RecoveryReport Report, IReadOnlyList<Adoption> Adoptions)> RecoverAsync(CancellationToken ct) => RecoverAsync(null, ct);

    /// <summary>
    /// Recovers, leaving alone the jobs placed on the node at or after <paramref name="placedSince"/> (when the agent
    /// registered) and not launched yet: they are new work for the agent's dispatch loop, not leftovers of its last run.
    /// </summary>
    public async Task<(RecoveryReport Report, IReadOnlyList<Adoption> Adoptions)> RecoverAsync(DateTimeOffset? placedSince, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var node = _options.Node();
        var actions = new List<string>();
        var adoptions = new List<Adoption>();
        var recovered = 0;
        var skipped = 0;
        var retry = resilience.Store;

        // Jobs that ended (a user's cancel) while the agent was away but still hold the node: end what is left of them.
        var nodeJobs = await retry.ExecuteAsync(async c => await agentStore.GetNodeJobsAsync(node, c), ct);
        foreach (var ended in nodeJobs.Where(j => j.State.IsTerminal()))
        {
            if (ended.ProcessId is { } pid && ended.ProcessStartTicks is { } ticks &&
                new LaunchedProcess(pid, ticks) { IsChild = false } is { IsAlive: true } leftover)
            {
                signals.SignalJob(leftover, NativeMethods.SIGKILL);
                actions.Add(string.Create(CultureInfo.InvariantCulture, $"job {ended.JobId}: {ended.State} while the agent was away; killed its processes"));
            }

            var status = JobDirectory.For(_options.ScriptsDirectory, ended.JobId, ended.Attempt).ReadStatus() ?? ExitCode.Killed(9);
            await retry.ExecuteAsync(async c => await agentStore.FinishAsync(
                new JobCompletion(ended.JobId, ended.Attempt, ended.State, status, null, time.GetUtcNow()), c), ct);
            JobDirectory.For(_options.ScriptsDirectory, ended.JobId, ended.Attempt).Delete();
            recovered++;
        }

        var stale = await retry.ExecuteAsync(async c => await agentStore.ReleaseStaleAllocationsAsync(node, c), ct);
        if (stale > 0)
        {
            actions.Add(string.Create(CultureInfo.InvariantCulture, $"released {stale} stale allocation(s)"));
            recovered += stale;
        }

        var onNode = await retry.ExecuteAsync(async c => await agentStore.GetAssignedAsync(node, c), ct);
        var assigned = onNode
            .Where(d => placedSince is not { } since || d.Job.ProcessId is not null || d.Job.StartTime is not { } start || start < since)
            .ToList();
        var wrappers = assigned.Any(d => d.Job.ProcessId is null) ? FindWrappers() : new Dictionary<string, LaunchedProcess>();
        var now = time.GetUtcNow();
        foreach (var dispatch in assigned)
        {
            var candidate = Candidate(dispatch, wrappers);
            var action = strategy.Decide(candidate, now);
            var prefix = string.Create(CultureInfo.InvariantCulture, $"job {dispatch.Job.Id}: ");
            switch (action)
            {
                case RecoveryAction.Adopt adopt:
                    adoptions.Add(new Adoption(dispatch, adopt.Process, adopt.StopForTimeLimit));
                    actions.Add(prefix + adopt.Description);
                    recovered++;
                    break;
                case RecoveryAction.Finish finish:
                    var completion = new JobCompletion(dispatch.Job.Id, dispatch.Job.Attempt, finish.State, finish.Exit, finish.Error, now,
                        Events: [new AgentEvent(now, JobEventKind.Recovered, finish.Description)]);
                    await retry.ExecuteAsync(async c => await agentStore.FinishAsync(completion, c), ct);
                    candidate.Directory.Delete();
                    actions.Add(prefix + finish.Description);
                    recovered++;
                    break;
                default:
                    actions.Add(prefix + "left as it is");
                    skipped++;
                    break;
            }
        }

        recovered += FenceStaleWrappers(onNode, actions);
        var report = new RecoveryReport(now, nodeJobs.Count(j => j.State.IsTerminal()) + assigned.Count, recovered, skipped, watch.Elapsed, actions)
        {
            Containment = _options.UseCgroups ? cgroups.Containment : "session only (cgroups turned off)",
        };
        logger.LogInformation("Recovery on node {Node}: {Total} job(s), {Recovered} recovered, {Skipped} skipped, in {Duration:0.#} ms{Actions}",
            node, report.Total, report.Recovered, report.Skipped, report.Duration.TotalMilliseconds,
            actions.Count == 0 ? "" : "; " + string.Join("; ", actions));
        try
        {
            await retry.ExecuteAsync(async c => await nodeStore.RecordRecoveryAsync(node, report, c), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not keep the recovery report of node {Node}", node);
        }

        return (report, adoptions);
    }

    /// <summary>
    /// Fencing at start: a live job wrapper of this agent whose attempt the store no longer places on the node —
    /// requeued or failed while the node was declared down, with the agent gone — is stale. Its process group is
    /// killed, so that a job never runs twice.
    /// </summary>
    private int FenceStaleWrappers(IReadOnlyList<Dispatch> assigned, List<string> actions)
    {
        var scripts = Path.TrimEndingDirectorySeparator(Path.GetFullPath(_options.ScriptsDirectory)) + Path.DirectorySeparatorChar;
        var current = assigned.Select(d => JobDirectory.For(_options.ScriptsDirectory, d.Job.Id, d.Job.Attempt).Root).ToHashSet(StringComparer.Ordinal);
        var fenced = 0;
        foreach (var (root, process) in FindWrappers())
        {
            if (!root.StartsWith(scripts, StringComparison.Ordinal) || current.Contains(root))
            {
                continue;
            }

            signals.SignalJob(process, NativeMethods.SIGKILL);
            new JobDirectory(root).Delete();
            actions.Add($"{Path.GetFileName(root)}: no longer placed on this node; killed its processes");
            fenced++;
        }

        return fenced;
    }

    private RecoveryCandidate Candidate(Dispatch dispatch, IReadOnlyDictionary<string, LaunchedProcess> wrappers)
    {
        var job = dispatch.Job;
        var directory = JobDirectory.For(_options.ScriptsDirectory, job.Id, job.Attempt);
        LaunchedProcess? live = null;
        if (job.ProcessId is { } pid && job.ProcessStartTicks is { } ticks)
        {
            var process = new LaunchedProcess(pid, ticks) { IsChild = false };
            live = process.IsAlive ? process : null;
        }
        else if (wrappers.TryGetValue(directory.Root, out var found))
        {
            // Started, but the launch never reached the store: the wrapper's command line names the job directory.
            live = found;
        }

        return new RecoveryCandidate(dispatch, directory, live, live is null ? directory.ReadStatus() : null);
    }

    /// <summary>Live job wrappers by their job directory, from /proc/*/cmdline.</summary>
    public static Dictionary<string, LaunchedProcess> FindWrappers()
    {
        var found = new Dictionary<string, LaunchedProcess>(StringComparer.Ordinal);
        foreach (var stat in ProcStat.All())
        {
            if (stat.IsZombie)
            {
                continue;
            }

            string[] argv;
            try
            {
                argv = Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{stat.Pid.ToString(CultureInfo.InvariantCulture)}/cmdline"))
                    .Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            // sh -c <script> conductor-job <job directory> ...
            if (argv.Length > 4 && argv[3] == JobWrapper.ProcessName)
            {
                found[argv[4]] = new LaunchedProcess(stat.Pid, stat.StartTicks) { IsChild = false };
            }
        }

        return found;
    }
}
