using Conductor.Core.Identity;

namespace Conductor.Cli.Commands;

/// <summary>What the long-running commands (server, agent) set up the same way.</summary>
public static class HostDefaults
{
    /// <summary>One line per message with a timestamp, on the console.</summary>
    public static ILoggingBuilder AddConductorConsole(this ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss ";
        });
        return logging;
    }

    /// <summary>
    /// Creates the data directory (owner only); null when it is usable, else the sentence that says why not. As root,
    /// where jobs run as their users, the directory and its scripts directory may be passed through (0711, never
    /// listed) so that a job reaches its own script and a local user the socket, and the database is made the
    /// owner's alone (0600) before anything opens it.
    /// </summary>
    public static string? CreateDataDirectory(string dataDirectory, bool withDatabase = false)
    {
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode passThrough = ownerOnly | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        try
        {
            Directory.CreateDirectory(dataDirectory, ownerOnly);
            if (UnixUser.ProcessIsRoot)
            {
                File.SetUnixFileMode(dataDirectory, passThrough);
                var scripts = Path.Combine(dataDirectory, "scripts");
                Directory.CreateDirectory(scripts, passThrough);
                File.SetUnixFileMode(scripts, passThrough);
                foreach (var name in new[] { "conductor.db", "conductor.db-wal", "conductor.db-shm", "tokens", "accounts" })
                {
                    var path = Path.Combine(dataDirectory, name);
                    if (withDatabase && name == "conductor.db" && !File.Exists(path))
                    {
                        File.WriteAllBytes(path, []);
                    }

                    if (File.Exists(path))
                    {
                        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                    }
                }
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot use the data directory {dataDirectory}: {e.Message}";
        }
    }

    /// <summary>
    /// Makes this process non-dumpable: no process of the same user (a job of an unprivileged server, which runs as
    /// the server's user) may ptrace it, read its memory or environment through /proc, or get a core dump of it with
    /// the tokens and connection string it holds. Jobs start dumpable again, as every exec does.
    /// </summary>
    public static void ForbidInspection()
    {
        const int PR_SET_DUMPABLE = 4;
        _ = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
