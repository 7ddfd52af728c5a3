using System.Globalization;
using Conductor.Core.Identity;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Execution;

/// <summary>
/// The small POSIX shell that stands between the agent and a job: it leads the job's session, runs the job as
/// its child, and writes the job's exit status to a file before it exits. The agent reads that file, so the
/// real status of a job is still known when the agent was restarted while the job ran (the agent adopts the
/// running wrapper by pid and start time, and reads the file when it ends).
/// </summary>
/// <remarks>
/// The wrapper catches (not ignores) the usual termination signals, so signals sent to the job's process group
/// reach the job with their default actions while the wrapper waits on; SIGKILL ends both. It needs no other
/// program: every command in it is a shell builtin.
/// </remarks>
public static class JobWrapper
{
    public const string Shell = "/bin/sh";

    /// <summary>$1: the job's directory; $2: the cgroup.procs files to join first, ':'-separated, or empty; then the job's command.</summary>
    public const string Script = """
        d=$1; cg=$2; shift 2
        while [ -n "$cg" ]; do
          f=${cg%%:*}; echo $$ > "$f" || exit 125
          case $cg in *:*) cg=${cg#*:} ;; *) cg= ;; esac
        done
        trap : HUP INT QUIT TERM USR1 USR2 ALRM
        "$@" &
        p=$!
        while :; do
          wait "$p"; s=$?
          kill -0 "$p" 2>/dev/null || break
        done
        umask 077
        echo "$s" > "$d/status"
        exit "$s"
        """;

    /// <summary>Marks the wrapper's command line; recovery finds a wrapper by this name and its job directory.</summary>
    public const string ProcessName = "conductor-job";

    public static IReadOnlyList<string> Argv(string jobDirectory, IReadOnlyList<string>? cgroupProcsPaths, IReadOnlyList<string> jobArgv) =>
        [Shell, "-c", Script, ProcessName, jobDirectory, cgroupProcsPaths is null ? "" : string.Join(':', cgroupProcsPaths), .. jobArgv];

    /// <summary>Where setpriv(1) is: the one program the wrapper runs besides the job, when the job has another user.</summary>
    public const string SetPriv = "/usr/bin/setpriv";

    /// <summary>
    /// The job's command as <paramref name="user"/> when that is not the wrapper's own user: setpriv takes the user's
    /// uid, gid and supplementary groups and then executes the job. The wrapper itself stays with the agent's user,
    /// so the job can neither signal it nor write the status file, and the exit status it records stays the job's.
    /// </summary>
    public static IReadOnlyList<string> AsUser(UnixUser user, IReadOnlyList<string> jobArgv)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (user.Uid == UnixUser.Current.Uid)
        {
            return jobArgv;
        }

        var groups = user.Groups.Where(g => g != user.Gid).ToList();
        return
        [
            SetPriv,
            string.Create(CultureInfo.InvariantCulture, $"--reuid={user.Uid}"),
            string.Create(CultureInfo.InvariantCulture, $"--regid={user.Gid}"),
            groups.Count == 0 ? "--clear-groups" : "--groups=" + string.Join(',', groups.Select(g => g.ToString(CultureInfo.InvariantCulture))),
            "--",
            .. jobArgv,
        ];
    }

    /// <summary>
    /// Reads a status the wrapper wrote: the shell's <c>$?</c>, where 129–192 means killed by signal 1–64 and
    /// anything else is an exit code. Null while the file is missing or incomplete.
    /// </summary>
    public static ExitCode? ReadStatus(string statusPath)
    {
        string text;
        try
        {
            text = File.ReadAllText(statusPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return ParseStatus(text);
    }

    public static ExitCode? ParseStatus(string text)
    {
        if (!text.EndsWith('\n') ||
            !int.TryParse(text.AsSpan().Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var status) || status > 255)
        {
            return null;
        }

        return status is > 128 and <= 192 ? ExitCode.Killed(status - 128) : ExitCode.Exited(status);
    }

    /// <summary>Exit status 125 from the wrapper itself: it could not join the job's cgroup.</summary>
    public const int CgroupJoinFailed = 125;
}
