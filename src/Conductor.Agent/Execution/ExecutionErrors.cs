using System.Data.Common;
using Conductor.Agent.Processes;

namespace Conductor.Agent.Execution;

/// <summary>The kinds of infrastructure failure the agent tells apart.</summary>
public enum ExecutionErrorKind
{
    /// <summary>The job is not in the store (purged, or a report for a job this store never had).</summary>
    JobNotFound,

    /// <summary>The job's resources could not be set up (its CPUs, its cgroup, its directories).</summary>
    Allocation,

    /// <summary>The process could not be started.</summary>
    LaunchFailure,

    /// <summary>The node the job ran on is gone (no heartbeat).</summary>
    LostNode,

    /// <summary>The store did not answer or was busy for a moment.</summary>
    TransientStore,
}

/// <summary>An infrastructure failure, typed, and whether trying again may help. A script's own exit is never one of these.</summary>
public class ExecutionException : Exception
{
    public ExecutionException()
    {
    }

    public ExecutionException(string message)
        : base(message)
    {
    }

    public ExecutionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ExecutionException(ExecutionErrorKind kind, string message, bool retryable, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        IsRetryable = retryable;
    }

    public ExecutionErrorKind Kind { get; }

    public bool IsRetryable { get; }
}

public static class ExecutionErrors
{
    // errno values for which starting a process again may succeed: EAGAIN, ENOMEM, EINTR, ETXTBSY, EMFILE, ENFILE.
    private static readonly string[] TransientLaunchErrors =
    [
        "Resource temporarily unavailable", "Cannot allocate memory", "Interrupted system call", "Text file busy",
        "Too many open files",
    ];

    public static ExecutionException JobNotFound(string message) => new(ExecutionErrorKind.JobNotFound, message, retryable: false);

    public static ExecutionException Allocation(string message, Exception? inner = null) =>
        new(ExecutionErrorKind.Allocation, message, retryable: false, inner);

    public static ExecutionException LostNode(string message) => new(ExecutionErrorKind.LostNode, message, retryable: true);

    /// <summary>Puts any exception into one of the kinds; unknown faults are not retried.</summary>
    public static ExecutionException Classify(Exception e) => e switch
    {
        ExecutionException known => known,
        ProcessLaunchException launch => new(ExecutionErrorKind.LaunchFailure, launch.Message,
            TransientLaunchErrors.Any(t => launch.Message.Contains(t, StringComparison.Ordinal)), launch),
        DbException db => new(ExecutionErrorKind.TransientStore, "the database: " + db.Message, db.IsTransient || IsBusy(db), db),
        TimeoutException or IOException => new(ExecutionErrorKind.TransientStore, e.Message, retryable: true, e),
        _ => new(ExecutionErrorKind.Allocation, e.Message, retryable: false, e),
    };

    public static bool IsRetryable(Exception e) => e is not OperationCanceledException && Classify(e).IsRetryable;

    // SQLite reports "database is locked" (5) and "database table is locked" (6) as SqliteException without IsTransient.
    private static bool IsBusy(DbException e) => e.ErrorCode is 5 or 6 || e.Message.Contains("database is locked", StringComparison.OrdinalIgnoreCase);
}
