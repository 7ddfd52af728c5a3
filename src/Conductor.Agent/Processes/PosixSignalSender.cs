using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Conductor.Agent.Processes;

/// <summary>
/// Signals a job with kill(-pgid), then finds the processes of the job that moved to another process group: where the
/// job has a cgroup, by its member list alone (the wrapper joins the group before it starts the job, and a process
/// cannot leave it by itself, so it holds every process of the job, those that left the session too); without one,
/// by a sweep of /proc for the job's session. Callers keep the leader unreaped while they signal, so neither the
/// group nor the session id can have been reused. (A process found could in principle exit and have its pid reused
/// between the read and the kill; that window is a few microseconds and needs a pid to wrap around.)
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

        // The cgroup's list costs one read; the sweep reads every process of the machine, once per job at its end.
        return SignalCgroup(process, signal) ?? SignalSession(sid, signal);
    }

    /// <summary>Signals the processes of the session <paramref name="sid"/> outside its process group; returns how many live ones it found.</summary>
    private int SignalSession(int sid, int signal)
    {
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

        return others;
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
    /// Signals the processes of the job's cgroup besides its leader (setsid and double forks included: they cannot
    /// leave the group). Returns how many live ones it found, or null when the job has no cgroup or its list cannot
    /// be read (then the session sweep does the work).
    /// </summary>
    private int? SignalCgroup(LaunchedProcess process, int signal)
    {
        if (process.CgroupProcsPath is not { } procs)
        {
            return null;
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines(procs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var found = 0;
        foreach (var line in lines)
        {
            if (!int.TryParse(line, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) ||
                pid == process.Pid || ProcStat.Read(pid) is not { } stat || stat.IsZombie)
            {
                continue;
            }

            found++;
            if (stat.ProcessGroup != process.Pid && NativeMethods.kill(pid, signal) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != NativeMethods.ESRCH)
            {
                logger.LogWarning("kill({Pid}, {Signal}) failed: {Error}", pid, signal, NativeMethods.ErrorText(errno));
            }
        }

        return found;
    }
}
