using System.Globalization;

namespace Conductor.Bench;

internal static class Machine
{
    /// <summary>Date, cores, CPU model and memory: the header of every run.</summary>
    public static string Describe()
    {
        var model = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var memKib = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
                ?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]
            : null;
        var memGib = memKib is null ? "?" : (long.Parse(memKib, CultureInfo.InvariantCulture) / 1024.0 / 1024.0).ToString("F1", CultureInfo.InvariantCulture);
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        return $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {model ?? "unknown CPU"}, {memGib} GiB, load {load}";
    }

    /// <summary>The built CLI: the given path, else artifacts/cli/conductor.dll of the repository around us.</summary>
    public static string FindCli(string? given)
    {
        if (given is not null)
        {
            return File.Exists(given) ? Path.GetFullPath(given) : throw new ArgumentException($"--cli {given} does not exist");
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Conductor.slnx")))
                {
                    var cli = Path.Combine(dir.FullName, "artifacts", "cli", "conductor.dll");
                    return File.Exists(cli)
                        ? cli
                        : throw new ArgumentException($"{cli} is missing; build it first with ./conductor --help");
                }
            }
        }

        throw new ArgumentException("cannot find the repository (Conductor.slnx); pass --cli PATH");
    }

    /// <summary>Writes an executable script file.</summary>
    public static string WriteScript(string directory, string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Microseconds since the Unix epoch on the real-time clock, comparable with bash's $EPOCHREALTIME.</summary>
    public static double NowMicros() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10.0;

    /// <summary>Parses a file holding $EPOCHREALTIME ("seconds.micros") into microseconds since the epoch.</summary>
    public static double ReadEpochMicros(string path)
    {
        var text = File.ReadAllText(path).Trim().Replace(',', '.');
        return double.Parse(text, CultureInfo.InvariantCulture) * 1e6;
    }
}
