using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>
/// A job as people name it, Slurm's way: <c>123</c> (a job, or a whole array), <c>123_7</c> (task 7 of array 123) or
/// <c>123_[1-5]</c> (some of its tasks, in <see cref="TaskSet"/> syntax). The one parser the CLI, the Slurm commands
/// and the REST API share.
/// </summary>
public readonly record struct JobRef(JobId Id, TaskSet? Tasks)
{
    /// <summary>True when the reference names tasks of an array rather than a whole job.</summary>
    public bool IsTasks => Tasks is not null;

    /// <summary>The single task this names, when it names exactly one.</summary>
    public int? SingleTask => Tasks is { Count: 1 } set ? set.Min : null;

    public static JobRef Of(JobId id) => new(id, null);

    public static bool TryParse(string? text, out JobRef reference, out string error)
    {
        reference = default;
        error = "";
        var s = text?.Trim() ?? "";
        var underscore = s.IndexOf('_', StringComparison.Ordinal);
        var idText = underscore < 0 ? s : s[..underscore];
        if (!JobId.TryParse(idText, out var id))
        {
            error = $"'{Shorten(s)}' is not a job id: use N, N_T for task T of array N, or N_[T-U] for a range of its tasks";
            return false;
        }

        if (underscore < 0)
        {
            reference = new JobRef(id, null);
            return true;
        }

        var tasksText = s[(underscore + 1)..];
        if (tasksText.StartsWith('[') && tasksText.EndsWith(']'))
        {
            tasksText = tasksText[1..^1];
        }
        else if (!tasksText.All(char.IsAsciiDigit))
        {
            error = $"'{Shorten(s)}' is not a job id: a range of tasks is written in brackets, as N_[1-5]";
            return false;
        }

        // A '%N' limit, as squeue shows it, is accepted and means nothing here.
        var percent = tasksText.IndexOf('%', StringComparison.Ordinal);
        if (percent >= 0 && tasksText[(percent + 1)..].All(char.IsAsciiDigit))
        {
            tasksText = tasksText[..percent];
        }

        if (!TaskSet.TryParse(tasksText, out var tasks, out var taskError))
        {
            error = $"'{Shorten(s)}' is not a job id: its tasks {taskError}";
            return false;
        }

        reference = new JobRef(id, tasks);
        return true;
    }

    public static JobRef Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException(error);

    public override string ToString() => Tasks switch
    {
        null => Id.ToString(),
        { Count: 1 } one => $"{Id}_{one.Min.ToString(CultureInfo.InvariantCulture)}",
        var many => $"{Id}_[{many}]",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";
}
