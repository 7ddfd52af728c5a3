using System.Globalization;

namespace Conductor.Agent.Processes;

/// <summary>The fields of /proc/&lt;pid&gt;/stat the agent uses.</summary>
public readonly record struct ProcStat(int Pid, char State, int ProcessGroup, int Session, long StartTicks)
{
    /// <summary>CPU time in clock ticks: own user + system time, plus that of waited-for children.</summary>
    public long CpuTicks { get; init; }

    /// <summary>Resident set size in pages.</summary>
    public long RssPages { get; init; }

    public int ParentPid { get; init; }

    public bool IsZombie => State is 'Z' or 'X';

    /// <summary>
    /// Parses a stat line. The command name (field 2) may contain spaces and parentheses, so the fields are
    /// counted from after the last ')'.
    /// </summary>
    public static bool TryParse(string line, out ProcStat stat)
    {
        stat = default;
        var open = line.IndexOf('(', StringComparison.Ordinal);
        var close = line.LastIndexOf(')');
        if (open <= 0 || close < open ||
            !int.TryParse(line.AsSpan(0, open).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return false;
        }

        // Fields 3.. follow the ')': index 0 is field 3 (state).
        var fields = line[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 22 || fields[0].Length != 1 ||
            !int.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ppid) ||
            !int.TryParse(fields[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var pgrp) ||
            !int.TryParse(fields[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var session) ||
            !long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var startTicks))
        {
            return false;
        }

        long cpu = 0;
        for (var i = 11; i <= 14; i++)
        {
            cpu += long.TryParse(fields[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ticks) ? Math.Max(0, ticks) : 0;
        }

        _ = long.TryParse(fields[21], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var rss);
        stat = new ProcStat(pid, fields[0][0], pgrp, session, startTicks) { CpuTicks = cpu, RssPages = Math.Max(0, rss), ParentPid = ppid };
        return true;
    }

    /// <summary>Reads /proc/&lt;pid&gt;/stat; null when the process does not exist (any more).</summary>
    public static ProcStat? Read(int pid)
    {
        string line;
        try
        {
            line = File.ReadAllText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return TryParse(line, out var stat) ? stat : null;
    }

    /// <summary>This process's peak resident set so far (VmHWM of /proc/self/status), in KiB; 0 when unknown.</summary>
    public static long SelfPeakRssKiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal) &&
                    long.TryParse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                {
                    return kib;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    /// <summary>Every process currently listed in /proc.</summary>
    public static IEnumerable<ProcStat> All()
    {
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories("/proc").ToList();
        }
        catch (IOException)
        {
            yield break;
        }

        foreach (var dir in entries)
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) &&
                Read(pid) is { } stat)
            {
                yield return stat;
            }
        }
    }
}
