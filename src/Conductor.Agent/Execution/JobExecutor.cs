using System.Globalization;
using Conductor.Agent.Hosting;
using Conductor.Agent.Monitoring;
using Conductor.Agent.Pipeline;
using Conductor.Agent.Processes;
using Conductor.Agent.Resources;
using Conductor.Core.Identity;
using Conductor.Core.Jobs;
using Conductor.Core.Parsing;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Win32.SafeHandles;

namespace Conductor.Agent.Execution;

/// <summary>
/// Runs one attempt of a job through its stages — Initialized, Loaded, ResourcesAllocated, Prepared, Running,
/// Completed or Failed, CleanedUp — each recorded as a job event. The allocation is a lease whose release writes
/// the end; the running itself passes through the registered pipeline steps. Faults of the agent become a
/// failed attempt with a specific message, never a lost job.
/// </summary>
public sealed class JobExecutor(
    IAgentStore store,
    JobPipeline pipeline,
    IProcessLauncher launcher,
    ISignalSender signals,
    ICgroupManager cgroups,
    ResourceTracker tracker,
    CpuMap cpuMap,
    AgentResilience resilience,
    CompletionOutbox outbox,
    IWakeBus bus,
    TimeProvider time,
    IOptions<AgentOptions> options,
    ILogger<JobExecutor> logger)
{
    /// <summary>Held while a script is written and while a job is spawned, never both at once.</summary>
    private static readonly Lock SpawnLock = new();

    private readonly AgentOptions _options = options.Value;

    /// <summary>
    /// Names this agent's job cgroups apart from those of other agents on the machine (the cgroup tree is the
    /// machine's, and job ids repeat between clusters): a short digest of the agent's scripts directory, the same
    /// after a restart, so that adoption finds the groups again.
    /// </summary>
    private readonly string _cgroupPrefix = Convert.ToHexStringLower(
        System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(options.Value.ScriptsDirectory))))[..12];

    /// <summary>The number of each GPU's device file, by index, where the node has one (read once).</summary>
    private readonly Lazy<IReadOnlyDictionary<int, DeviceNumber>> _gpuDevices = new(() => GpuDevices.Numbers(options.Value));

    /// <summary>A new attempt, from its dispatch.</summary>
    public JobExecutionContext Create(Dispatch dispatch, CancellationToken detach)
    {
        var context = new JobExecutionContext(JobLaunch.FromDispatch(dispatch, _options.Node()), time, detach);
        context.EnterStage(ExecutionStage.Initialized);
        return context;
    }

    /// <summary>An attempt found running after a restart: its wrapper is alive, but not this agent's child.</summary>
    public JobExecutionContext Adopt(Dispatch dispatch, LaunchedProcess process, CancellationToken detach)
    {
        var launch = JobLaunch.FromDispatch(dispatch, _options.Node());
        var context = new JobExecutionContext(launch, time, detach) { Adopted = true };
        context.EnterStage(ExecutionStage.Initialized);
        context.AddEvent(JobEventKind.Recovered, string.Create(CultureInfo.InvariantCulture, $"adopted the running job (pid {process.Pid}) after the agent restarted"));
        context.Directory = JobDirectory.For(_options.ScriptsDirectory, launch.JobId, launch.Attempt);
        context.StdoutPath = dispatch.Job.StdoutPath;
        context.StderrPath = dispatch.Job.StderrPath;
        context.AdoptedProcess = process;
        context.AdoptedLaunchTime = dispatch.Job.StartTime;
        return context;
    }

    /// <summary>
    /// Runs the attempt to its end and records it; the completion written, or null when the agent detached (it is
    /// shutting down without drain: the job runs on and the next start adopts it). A detach anywhere in the run,
    /// while the launch is being recorded included, ends as a detach, never as a failure.
    /// </summary>
    public async Task<JobCompletion?> ExecuteAsync(JobExecutionContext context)
    {
        context.EnterStage(ExecutionStage.Loaded);
        var lease = new AllocationLease(context, store, tracker, resilience.Store, outbox, bus, logger);
        try
        {
            AllocateResources(context);
            context.EnterStage(ExecutionStage.ResourcesAllocated);
            if (!context.Adopted)
            {
                await PrepareAsync(context);
                context.EnterStage(ExecutionStage.Prepared);
            }

            await pipeline.Build(RunAsync)(context);
        }
        catch (OperationCanceledException) when (context.Detach.IsCancellationRequested)
        {
            context.Outcome = JobOutcome.Detached;
        }
        catch (Exception e)
        {
            context.Error = e;
            var error = ExecutionErrors.Classify(e);
            context.Outcome = JobOutcome.LaunchFailed(error.Message);
            context.AddEvent(JobEventKind.Warning, $"{error.Kind}: {error.Message}");
            context.NoProcess();
        }

        var outcome = context.Outcome ??= JobOutcome.LaunchFailed("the agent ended the attempt without an outcome");
        if (outcome.Kind == OutcomeKind.Detached)
        {
            lease.Detach();
            return null;
        }

        context.EnterStage(outcome.Kind == OutcomeKind.Completed ? ExecutionStage.Completed : ExecutionStage.Failed);
        CleanUp(context);
        context.EnterStage(ExecutionStage.CleanedUp);
        var completion = ToCompletion(context);
        await lease.FinishAsync(completion);
        return completion;
    }

    /// <summary>The store's record of the attempt's end, as <see cref="JobTransitions"/> decides it (a retry, a requeue, or the end).</summary>
    private JobCompletion ToCompletion(JobExecutionContext context)
    {
        var outcome = context.Outcome!;
        var launch = context.Launch;
        var end = outcome.Kind switch
        {
            OutcomeKind.Failed => JobTransitions.ScriptFailed(outcome.Error, launch.Attempt, launch.Spec.MaxRetries),
            OutcomeKind.Lost => JobTransitions.Lost(JobState.Failed, outcome.Error ?? "the job's processes were lost", launch.Spec.Requeue, launch.Attempt),
            OutcomeKind.Requeued => JobTransitions.Requeued(outcome.Error ?? "requeued"),
            _ => JobTransitions.Finish(outcome.State, outcome.Error),
        };
        if (end.Retry)
        {
            context.AddEvent(JobEventKind.Retry, end.Error);
        }

        return new JobCompletion(
            context.JobId,
            context.Attempt,
            end.State,
            outcome.ExitCode,
            end.Error,
            time.GetUtcNow(),
            context.CpuSeconds,
            context.MaxRssKiB > 0 ? context.MaxRssKiB : null,
            context.TakeEvents());
    }

    private void AllocateResources(JobExecutionContext context)
    {
        if (_options.PinCpus && context.Launch.Cores.Count > 0)
        {
            context.CpuIds = cpuMap.Map(context.Launch.Cores);
        }

        var name = string.Create(CultureInfo.InvariantCulture, $"{_cgroupPrefix}-job-{context.JobId}-{context.Attempt}");
        if (context.Adopted)
        {
            context.Cgroup = cgroups.Open(name);
        }
        else if (_options.UseCgroups)
        {
            context.Cgroup = cgroups.Create(name, context.Launch.Spec.MemoryMiB, GpuDevices.Denied(_gpuDevices.Value, context.Launch.Job.Devices));
        }
    }

    /// <summary>
    /// The user the job runs as, the job directory with its script, the working directory and output files (made and
    /// opened with the user's rights, off the agent's loop and within a deadline), the environment and the command.
    /// </summary>
    private async Task PrepareAsync(JobExecutionContext context)
    {
        var launch = context.Launch;
        if (!Path.IsPathRooted(launch.Spec.WorkDir))
        {
            throw ExecutionErrors.Allocation($"the working directory {launch.Spec.WorkDir} is not an absolute path");
        }

        var user = RunAs(launch);
        var workDir = Path.GetFullPath(launch.Spec.WorkDir);
        var values = new OutputPatternValues(launch.JobId.ToString(), launch.Spec.Name, user?.Name ?? launch.Spec.Account, launch.Node.Value,
            launch.Job.ArrayJobId?.ToString() ?? "",
            launch.Job.ArrayTaskId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "");
        context.StdoutPath = OutputPattern.Resolve(launch.Spec.StdoutPattern, values, workDir);
        context.StderrPath = launch.Spec.StderrPattern is { } pattern ? OutputPattern.Resolve(pattern, values, workDir) : context.StdoutPath;

        var directory = JobDirectory.For(_options.ScriptsDirectory, launch.JobId, launch.Attempt);
        try
        {
            // No script file is ever open for writing while a job is being spawned (a child would hold it: ETXTBSY).
            lock (SpawnLock)
            {
                directory.Create(launch.Script, user);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ExecutionErrors.Allocation($"could not write the job script to {directory.Root}: {Reason(e)}", e);
        }

        context.Directory = directory;
        var (stdout, stderr) = (context.StdoutPath, context.StderrPath);
        var protectedDirectories = ProtectedDirectories();
        LaunchFiles files;
        try
        {
            files = await UserFileAccess.RunAsync(
                user, () => OpenFiles(workDir, stdout, stderr, protectedDirectories), _options.FileAccessTimeout, context.Detach);
        }
        catch (TimeoutException e)
        {
            throw ExecutionErrors.Allocation($"could not open the job's working directory or output files: {e.Message}", e);
        }

        context.Environment = JobEnvironment.Build(launch.WithSpec(s => s with { WorkDir = workDir }), JobEnvironment.Current(), _options.CommandsDirectory, directory.Root, user);
        var jobArgv = launch.Script.StartsWith("#!", StringComparison.Ordinal)
            ? (IReadOnlyList<string>)[directory.ScriptPath, .. launch.Spec.Arguments]
            : ["/bin/bash", directory.ScriptPath, .. launch.Spec.Arguments];
        if (user is not null)
        {
            jobArgv = JobWrapper.AsUser(user, jobArgv);
        }

        context.Request = new LaunchRequest(
            JobWrapper.Shell,
            JobWrapper.Argv(directory.Root, context.Cgroup?.JoinPaths, jobArgv),
            context.Environment,
            workDir,
            context.StdoutPath,
            context.StderrPath == context.StdoutPath ? null : context.StderrPath)
        {
            CpuIds = context.CpuIds,
            Files = files,
        };
    }

    /// <summary>
    /// The Unix user of the job when the agent runs as root (null otherwise: every job runs as the agent's user).
    /// A user this node does not know is a failed launch with that reason.
    /// </summary>
    private static UnixUser? RunAs(JobLaunch launch)
    {
        if (!UnixUser.ProcessIsRoot)
        {
            return null;
        }

        var name = launch.Spec.User;
        var user = name.Length == 0 ? UnixUser.Current : UnixUser.FindByName(name);
        if (user is null)
        {
            throw ExecutionErrors.Allocation($"the job's user '{name}' does not exist on node {launch.Node}");
        }

        if (!user.IsRoot && !File.Exists(JobWrapper.SetPriv))
        {
            throw ExecutionErrors.Allocation($"{JobWrapper.SetPriv} is missing on node {launch.Node}; it is needed to run jobs as their user");
        }

        return user;
    }

    /// <summary>The data directory and the job scripts: no job output goes there.</summary>
    private List<string> ProtectedDirectories() => [.. _options.ProtectedDirectories, _options.ScriptsDirectory];

    /// <summary>Runs with the job's user's rights: makes the directories, opens the working directory and the output files.</summary>
    private static LaunchFiles OpenFiles(string workDir, string stdoutPath, string stderrPath, IReadOnlyList<string> protectedDirectories)
    {
        CreateDirectory(workDir, "the working directory");
        foreach (var file in new[] { stdoutPath, stderrPath }.Distinct())
        {
            if (Path.GetDirectoryName(file) is { } dir)
            {
                CreateDirectory(dir, "the output directory");
            }
        }

        SafeFileHandle? directory = null;
        SafeFileHandle? stdout = null;
        try
        {
            directory = SafeFiles.OpenDirectory(workDir);
            stdout = SafeFiles.OpenOutput(stdoutPath, protectedDirectories);
            var stderr = stderrPath == stdoutPath ? null : SafeFiles.OpenOutput(stderrPath, protectedDirectories);
            return new LaunchFiles(stdout, stderr, directory);
        }
        catch (UnsafePathException e)
        {
            directory?.Dispose();
            stdout?.Dispose();
            throw ExecutionErrors.Allocation(e.Message, e);
        }
    }

    /// <summary>The pipeline's innermost step: start (or take over) the process, record the launch, wait for the end.</summary>
    private async Task RunAsync(JobExecutionContext context)
    {
        var runContext = new JobRunContext(launcher, signals, time, _options.KillWait, logger);
        var launch = context.Launch;
        JobRun run;
        if (context.AdoptedProcess is { } adopted)
        {
            var ranFor = context.AdoptedLaunchTime is { } started ? time.GetUtcNow() - started : TimeSpan.Zero;
            run = new JobRun(launch.JobId, launch.Attempt, adopted with { CgroupProcsPath = context.Cgroup?.ProcsPath }, context.Directory!.StatusPath, launch.Spec.TimeLimit, runContext, context.Detach, ranFor);
            context.SetRun(run);
            context.EnterStage(ExecutionStage.Running);
        }
        else
        {
            var request = context.Request!;
            LaunchedProcess process;
            try
            {
                process = resilience.Launch.Execute(() =>
                {
                    lock (SpawnLock)
                    {
                        return launcher.Launch(request);
                    }
                });
            }
            catch (ProcessLaunchException e)
            {
                context.Outcome = JobOutcome.LaunchFailed(e.Message);
                context.NoProcess();
                return;
            }
            finally
            {
                request.Files?.Dispose();
            }

            AgentLog.Launched(logger, launch.JobId, launch.Attempt, process.Pid);
            process = process with { CgroupProcsPath = context.Cgroup?.ProcsPath };
            run = new JobRun(launch.JobId, launch.Attempt, process, context.Directory!.StatusPath, launch.Spec.TimeLimit, runContext, context.Detach);
            context.SetRun(run);
            context.EnterStage(ExecutionStage.Running);
            await RecordLaunchAsync(context, process);
        }

        var result = await run.Result;
        if (result is null)
        {
            context.Outcome = JobOutcome.Detached;
            return;
        }

        context.Result = result;
        // MaxRSS: the resident memory of the job's processes as the monitor sampled it, or the largest resident set of
        // one of them as the kernel accounted it, whichever is larger. The kernel's figure for the wrapper starts at
        // the agent's own peak (the wrapper was spawned sharing the agent's memory, and exec keeps that mark), so it
        // says something of the job only when it is above that peak.
        var kernelMaxRss = result.Usage.MaxRssKiB > ProcStat.SelfPeakRssKiB() ? result.Usage.MaxRssKiB : 0;
        context.RecordUsage(kernelMaxRss, result.Usage.CpuSeconds);
        var oomKilled = context.Cgroup?.OomKilled() == true;
        if (oomKilled)
        {
            context.AddEvent(JobEventKind.Signal, "the kernel killed the job at the memory limit of its cgroup");
        }

        if (result.Exit is null && !context.Adopted && context.Directory is { } dir && !File.Exists(dir.StatusPath) &&
            result.Usage.WaitStatus is { } ws && ExitCode.FromWaitStatus(ws) == ExitCode.Exited(JobWrapper.CgroupJoinFailed))
        {
            context.Outcome = JobOutcome.LaunchFailed("the job could not join its memory cgroup");
            return;
        }

        context.Outcome = JobOutcome.FromExit(result.Exit, result.Stop, run.TimeLimit, launch.Spec.MemoryMiB, oomKilled);
    }

    private async Task RecordLaunchAsync(JobExecutionContext context, LaunchedProcess process)
    {
        var events = context.TakeEvents();
        var record = new LaunchRecord(process.Pid, process.StartTicks, context.StdoutPath!, context.StderrPath!, time.GetUtcNow(), events);
        try
        {
            var stillWanted = await resilience.Store.ExecuteAsync(
                async ct => await store.MarkLaunchedAsync(context.JobId, context.Attempt, record, ct), context.Detach);
            if (!stillWanted)
            {
                AgentLog.CancelledWhileLaunching(logger, context.JobId);
                context.Run?.Stop(StopReason.UserCancel);
            }
        }
        catch (OperationCanceledException) when (context.Detach.IsCancellationRequested)
        {
            // The agent is shutting down: the job runs on, and the next start finds its wrapper and adopts it.
            context.ReturnEvents(events);
        }
        catch (Exception e)
        {
            // The job runs on; its end is still recorded, and the events travel with it.
            context.ReturnEvents(events);
            logger.LogError(e, "Could not record the launch of job {JobId}", context.JobId);
        }
    }

    private static void CleanUp(JobExecutionContext context)
    {
        context.Cgroup?.Dispose();
        context.Cgroup = null;
    }

    private static void CreateDirectory(string path, string what)
    {
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw ExecutionErrors.Allocation($"could not create {what} {path}: {Reason(e)}", e);
        }
    }

    private static string Reason(Exception e) => e is UnauthorizedAccessException ? "Permission denied" : e.Message;
}
