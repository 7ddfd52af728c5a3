using System.CommandLine;
using Conductor.Core.Nodes;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;

namespace Conductor.Cli.Commands;

/// <summary>What a node offers and how its jobs are stopped, checked and with every default applied.</summary>
/// <param name="GpuDeviceFiles">The device file of each GPU, by index; empty for <c>/dev/nvidia&lt;index&gt;</c>.</param>
public sealed record NodeResources(NodeName Node, int Cpus, long MemoryMiB, IReadOnlyList<string> Partitions, TimeSpan KillWait, GresList Gres,
    IReadOnlyList<string>? GpuDeviceFiles = null);

/// <summary>The flags that describe a node's agent, shared by <c>conductor server</c> and <c>conductor agent</c>.</summary>
public sealed class NodeFlags
{
    public NodeFlags(string partitionsDescription)
    {
        Partitions = new Option<string>("--partitions") { Description = partitionsDescription, DefaultValueFactory = _ => "default" };
    }

    public Option<string?> Node { get; } = new("--node") { Description = "This node's name [the host name]." };

    public Option<int?> Cpus { get; } = new("--cpus") { Description = "CPUs this node offers to jobs [all of the machine's]." };

    public Option<string?> Memory { get; } = new("--memory") { Description = "Memory this node offers to jobs, e.g. 64G [all of the machine's]." };

    public Option<string> Partitions { get; }

    public Option<string?> Gres { get; } = new("--gres")
    {
        Description = "Generic resources this node offers, e.g. gpu:2 or gpu:a100:4,gpu:t4:2 [the NVIDIA GPUs found in /dev].",
    };

    public Option<string?> GpuFiles { get; } = new("--gpu-files")
    {
        Description = "The device file of each GPU by index, comma-separated (Slurm's gres.conf File=); a job cannot open the other GPUs' files [/dev/nvidia<index>].",
    };

    public Option<string> KillWait { get; } = new("--kill-wait")
    {
        Description = "Grace between SIGTERM and SIGKILL when a job is cancelled or times out, e.g. 10s or 1m.",
        DefaultValueFactory = _ => "10s",
    };

    public Option<bool> Drain { get; } = new("--drain")
    {
        Description = "On SIGTERM, wait for running jobs to finish. Without it they keep running and the next start adopts them.",
    };

    public IEnumerable<Option> All => [Node, Cpus, Memory, Partitions, Gres, GpuFiles, KillWait, Drain];

    /// <summary>The node's resources, or the one sentence that says which flag is wrong.</summary>
    public (NodeResources? Resources, string? Error) Resolve(ParseResult parse)
    {
        if (parse.GetValue(Cpus) is < 1)
        {
            return (null, "--cpus must be at least 1.");
        }

        var memoryMiB = MachineResources.MemoryMiB;
        if (parse.GetValue(Memory) is { } memory && !MemorySize.TryParseMiB(memory, out memoryMiB, out var memoryError))
        {
            return (null, $"--memory {memoryError}.");
        }

        var nodeName = parse.GetValue(Node) ?? MachineResources.NodeName;
        if (!NodeName.IsValid(nodeName))
        {
            return (null, $"--node '{nodeName}' is not a valid node name: use letters, digits, '.', '-' or '_'.");
        }

        var partitions = parse.GetValue(Partitions)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (partitions.Length == 0)
        {
            return (null, "--partitions must name at least one partition.");
        }

        var killWaitText = parse.GetValue(KillWait)!;
        if (!ServerCommand.TryParseDuration(killWaitText, out var killWait))
        {
            return (null, $"--kill-wait '{killWaitText}' is not a duration; use seconds such as 10s, or minutes such as 1m.");
        }

        var gres = MachineResources.Gpus;
        if (parse.GetValue(Gres) is { } gresText && !GresList.TryParse(gresText, out gres, out var gresError))
        {
            return (null, $"--gres {gresError}.");
        }

        var gpuFiles = (parse.GetValue(GpuFiles) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (gpuFiles.FirstOrDefault(f => !Path.IsPathRooted(f)) is { } relative)
        {
            return (null, $"--gpu-files '{relative}' is not an absolute path; name device files such as /dev/nvidia0.");
        }

        if (gpuFiles.Length > gres.Gpus)
        {
            return (null, $"--gpu-files names {gpuFiles.Length} files but the node has {gres.Gpus} GPUs; name one file per GPU (see --gres).");
        }

        return (new NodeResources(new NodeName(nodeName), parse.GetValue(Cpus) ?? MachineResources.Cpus, memoryMiB, partitions, killWait, gres, gpuFiles), null);
    }
}
