using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Processes;

/// <summary>
/// Signals a job with kill(-pgid), then sweeps /proc for processes of the job's session that moved to another
/// process group, and the job's cgroup for processes that left the session. Callers keep the leader unreaped while they signal, so neither the group nor the session id can
/// have been reused. (A process found by the sweep could in principle exit and have its pid reused between the
/// read and the kill; that window is a few microseconds and needs a pid to wrap around.)
/// </summary>
public sealed class PosixSignalSender(ILogger<PosixSignalSender> logger) : ISignalSender
{
    public int SignalJob(LaunchedProcess process, int signal)
    {
        var sid = process.Pid;
        if (NativeMethods.kill(-sid, signal) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != NativeMethods.ESRCH)
            {
                logger.LogWarning("kill(-{Pgid}, {Signal}) failed: {Error}", sid, signal, NativeMethods.ErrorText(errno));
            }
        }

        var others = 0;
        foreach (var stat in ProcStat.All())
        {
            if (stat.Session != sid || stat.Pid == sid || stat.IsZombie)
            {
                continue;
            }

            others++;
            if (stat.ProcessGroup != sid && NativeMethods.kill(stat.Pid, signal) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != NativeMethods.ESRCH)
                {
                    logger.LogWarning("kill({Pid}, {Signal}) failed: {Error}", stat.Pid, signal, NativeMethods.ErrorText(errno));
                }
            }
        }

        return others + SignalCgroup(process, signal);
    }

    public int SignalChildren(LaunchedProcess process, int signal)
    {
        var found = 0;
        foreach (var stat in ProcStat.All())
        {
            if (stat.ParentPid != process.Pid || stat.Session != process.Pid || stat.IsZombie)
            {
                continue;
            }

            found++;
            if (NativeMethods.kill(stat.Pid, signal) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != NativeMethods.ESRCH)
            {
                logger.LogWarning("kill({Pid}, {Signal}) failed: {Error}", stat.Pid, signal, NativeMethods.ErrorText(errno));
            }
        }

        return found;
    }

    /// <summary>
    /// Signals the processes of the job's cgroup that are not in its session (setsid, double fork): they cannot leave
    /// the group, so none escapes. Returns how many live ones it found.
    /// </summary>
    private int SignalCgroup(LaunchedProcess process, int signal)
    {
        if (process.CgroupProcsPath is not { } procs)
        {
            return 0;
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines(procs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }

        var found = 0;
        foreach (var line in lines)
        {
            if (!int.TryParse(line, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) ||
                pid == process.Pid || ProcStat.Read(pid) is not { } stat || stat.IsZombie || stat.Session == process.Pid)
            {
                continue;
            }

            found++;
            if (NativeMethods.kill(pid, signal) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != NativeMethods.ESRCH)
            {
                logger.LogWarning("kill({Pid}, {Signal}) failed: {Error}", pid, signal, NativeMethods.ErrorText(errno));
            }
        }

        return found;
    }
}
