namespace Conductor.EndToEnd.Tests;

/// <summary>Looks at processes through /proc.</summary>
public static class Processes
{
    /// <summary>True while the process exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Live job wrappers whose job directory lies under <paramref name="dataDirectory"/>.</summary>
    public static IEnumerable<int> JobWrappersUnder(string dataDirectory)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            if (cmdline.Contains("conductor-job\0" + dataDirectory, StringComparison.Ordinal) && IsAlive(pid))
            {
                yield return pid;
            }
        }
    }

    public static IReadOnlyList<int> ReadPids(string path) =>
        File.Exists(path)
            ? File.ReadAllLines(path).Where(l => int.TryParse(l, out _)).Select(int.Parse).ToList()
            : [];
}

/// <summary>Sends signals to processes.</summary>
public static partial class Signals
{
    public static void Kill(int pid, int signal) => _ = KillNative(pid, signal);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    private static partial int KillNative(int pid, int signal);
}
