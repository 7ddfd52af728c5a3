using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>
/// What <c>--array</c> asks for: the task ids (<c>1-100</c>, <c>1-100:2</c>, <c>1,3,5-7</c>) and, after a <c>%</c>, how
/// many tasks may run at once (<c>1-100%4</c>).
/// </summary>
public sealed record JobArraySpec(TaskSet Tasks, int? MaxRunning)
{
    /// <summary>Slurm's <c>MaxArraySize</c>: ids run from 0 to <see cref="TaskSet.MaxTaskId"/>, so at most this many tasks.</summary>
    public const int MaxTasks = TaskSet.MaxTaskId + 1;

    public static bool TryParse(string? text, out JobArraySpec? spec, out string error)
    {
        spec = null;
        var body = text?.Trim() ?? "";
        int? maxRunning = null;
        var percent = body.IndexOf('%', StringComparison.Ordinal);
        if (percent >= 0)
        {
            var limit = body[(percent + 1)..];
            if (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                error = $"'{Shorten(body)}' has a limit '%{Shorten(limit)}'; the number of tasks running at once must be at least 1";
                return false;
            }

            maxRunning = n;
            body = body[..percent];
        }

        if (!TaskSet.TryParse(body, out var tasks, out error))
        {
            return false;
        }

        if (tasks.Count > MaxTasks)
        {
            error = $"'{Shorten(body)}' has {tasks.Count:N0} tasks; an array holds at most {MaxTasks:N0}";
            return false;
        }

        spec = new JobArraySpec(tasks, maxRunning);
        return true;
    }

    public static JobArraySpec Parse(string text) =>
        TryParse(text, out var spec, out var error) ? spec! : throw new FormatException($"Array '{text}' {error}.");

    public override string ToString() => MaxRunning is { } n ? $"{Tasks}%{n.ToString(CultureInfo.InvariantCulture)}" : Tasks.ToString();

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";
}
