using Conductor.Core.Scheduling;

namespace Conductor.Cli.Commands;

/// <summary>What this machine offers to jobs by default.</summary>
public static class MachineResources
{
    public static int Cpus => Environment.ProcessorCount;

    /// <summary>Total memory in MiB, within any container limit the runtime sees.</summary>
    public static long MemoryMiB => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024);

    /// <summary>The NVIDIA GPUs the machine shows in /dev (nvidia0, nvidia1, ...), as <c>gpu:N</c>; none when there are none.</summary>
    public static GresList Gpus =>
        GresList.FromNvidiaDevices(Directory.Exists("/dev") ? Directory.EnumerateFiles("/dev", "nvidia*").Select(Path.GetFileName)! : []);

    public static string NodeName
    {
        get
        {
            var host = Environment.MachineName;
            var dot = host.IndexOf('.', StringComparison.Ordinal);
            return dot > 0 ? host[..dot] : host;
        }
    }
}
