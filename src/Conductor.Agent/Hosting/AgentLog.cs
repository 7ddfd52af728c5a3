using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Hosting;

/// <summary>The agent's information-level log messages.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} launched as pid {Pid}")]
    public static partial void Launched(ILogger logger, JobId jobId, int attempt, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} (pid {Pid}) ended with {Exit} (stop: {Stop})")]
    public static partial void Ended(ILogger logger, JobId jobId, int attempt, int pid, string exit, Execution.StopReason stop);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping job {JobId} attempt {Attempt} (pid {Pid}): {Reason}; SIGTERM, SIGKILL after {KillWait}")]
    public static partial void Stopping(ILogger logger, JobId jobId, int attempt, int pid, Execution.StopReason reason, TimeSpan killWait);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} did not exit within {KillWait}; sending SIGKILL")]
    public static partial void Killing(ILogger logger, JobId jobId, TimeSpan killWait);


    [LoggerMessage(Level = LogLevel.Information, Message = "Node {Node} registered ({Cpus} CPUs, {MemoryMiB} MiB)")]
    public static partial void Registered(ILogger logger, NodeName node, int cpus, long memoryMiB);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} no longer belongs to node {Node}; stopping it")]
    public static partial void Fenced(ILogger logger, JobId jobId, int attempt, NodeName node);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} is {State}; stopping it")]
    public static partial void NoLongerRunning(ILogger logger, JobId jobId, JobState state);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} was cancelled or moved while it launched; stopping it")]
    public static partial void CancelledWhileLaunching(ILogger logger, JobId jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} reported {State} {Exit}: {Result}")]
    public static partial void Reported(ILogger logger, JobId jobId, int attempt, JobState state, ExitCode exit, Conductor.Core.Storage.FinishOutcome result);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node} was declared down while this agent was silent; stopping its {Count} running job(s) and registering again")]
    public static partial void DeclaredDown(ILogger logger, NodeName node, int count);
}
