using System.Text;

namespace Conductor.Core.Parsing;

/// <summary>The values an output-file pattern may refer to.</summary>
public sealed record OutputPatternValues(string JobId, string JobName, string User, string Node, string ArrayMasterId = "", string ArrayIndex = "");

/// <summary>
/// Slurm's filename patterns for <c>--output</c> and <c>--error</c>: <c>%j</c> job id, <c>%x</c> job name,
/// <c>%u</c> user (account), <c>%N</c> node, <c>%A</c> array master id, <c>%a</c> array index, <c>%%</c> a percent sign.
/// </summary>
public static class OutputPattern
{
    private const string Known = "jxuNAa%";

    public static bool TryValidate(string? pattern, out string error)
    {
        error = "";
        if (string.IsNullOrWhiteSpace(pattern))
        {
            error = "is empty";
            return false;
        }

        if (pattern.Contains('\0', StringComparison.Ordinal))
        {
            error = "contains a NUL character";
            return false;
        }

        if (pattern.Length > 1024)
        {
            error = "is longer than 1024 characters";
            return false;
        }

        for (var i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] != '%')
            {
                continue;
            }

            if (i + 1 >= pattern.Length || !Known.Contains(pattern[i + 1], StringComparison.Ordinal))
            {
                var what = i + 1 >= pattern.Length ? "a trailing '%'" : $"'%{pattern[i + 1]}'";
                error = $"'{pattern}' has {what}; the known patterns are %j %x %u %N %A %a and %%";
                return false;
            }

            i++;
        }

        return true;
    }

    public static string Expand(string pattern, OutputPatternValues values)
    {
        var sb = new StringBuilder(pattern.Length + 16);
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c != '%' || i + 1 >= pattern.Length)
            {
                sb.Append(c);
                continue;
            }

            i++;
            sb.Append(pattern[i] switch
            {
                'j' => values.JobId,
                'x' => values.JobName,
                'u' => values.User,
                'N' => values.Node,
                'A' => values.ArrayMasterId.Length > 0 ? values.ArrayMasterId : values.JobId,
                'a' => values.ArrayIndex.Length > 0 ? values.ArrayIndex : "4294967294",
                '%' => "%",
                var other => "%" + other,
            });
        }

        return sb.ToString();
    }

    /// <summary>Expands and makes a path absolute against the job's working directory.</summary>
    public static string Resolve(string pattern, OutputPatternValues values, string workDir)
    {
        var expanded = Expand(pattern, values);
        return Path.IsPathRooted(expanded) ? Path.GetFullPath(expanded) : Path.GetFullPath(Path.Combine(workDir, expanded));
    }
}
