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

    public static IReadOnlyList<int> ReadPids(string path) =>
        File.Exists(path)
            ? File.ReadAllLines(path).Where(l => int.TryParse(l, out _)).Select(int.Parse).ToList()
            : [];
}
