using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>How array rows are named: <c>A_k</c> for a task, <c>A_[8-100%4]</c> for the unstarted tasks an array's row holds.</summary>
public static class JobArrayIds
{
    public static string Display(JobId id, JobId? arrayJobId, int? arrayTaskId, TaskSet? pendingTasks, int? maxRunning)
    {
        if (arrayJobId is not { } array)
        {
            return id.ToString();
        }

        if (arrayTaskId is { } task)
        {
            return $"{array}_{task.ToString(CultureInfo.InvariantCulture)}";
        }

        if (pendingTasks is null || pendingTasks.IsEmpty)
        {
            return array.ToString();
        }

        var limit = maxRunning is { } n ? "%" + n.ToString(CultureInfo.InvariantCulture) : "";
        return pendingTasks.Count == 1 && limit.Length == 0
            ? $"{array}_{pendingTasks.Min.ToString(CultureInfo.InvariantCulture)}"
            : $"{array}_[{pendingTasks}{limit}]";
    }
}
