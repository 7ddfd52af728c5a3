using Conductor.Core.Nodes;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Hosting;

/// <summary>Settings of the node agent, bound from the <see cref="SectionName"/> configuration section.</summary>
public sealed class AgentOptions
{
    public const string SectionName = "Agent";

    /// <summary>The node this agent runs jobs for.</summary>
    public string NodeName { get; set; } = "";

    public int Cpus { get; set; } = Environment.ProcessorCount;

    public long MemoryMiB { get; set; }

    public IList<string> Partitions { get; set; } = ["default"];

    /// <summary>The generic resources the node offers, in Slurm's form (<c>gpu:2</c>, <c>gpu:a100:4,gpu:t4:2</c>); empty for none.</summary>
    public string Gres { get; set; } = "";

    /// <summary>
    /// The device file of each of the node's GPUs, by index (Slurm's gres.conf <c>File=</c>); a job cannot open those
    /// of GPUs it was not given. Empty: <c>/dev/nvidia&lt;index&gt;</c> for each GPU that has one.
    /// </summary>
    public IList<string> GpuDeviceFiles { get; set; } = [];

    /// <summary>An absolute directory where job scripts are written (job-&lt;id&gt;-&lt;attempt&gt;.sh, mode 0700).</summary>
    public string ScriptsDirectory { get; set; } = "";

    /// <summary>A directory put first on every job's PATH: where Slurm's commands (sbatch, squeue, srun, ...) are. Null for none.</summary>
    public string? CommandsDirectory { get; set; }

    /// <summary>How long the agent waits without a wake-up before it looks for work anyway.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a job has between SIGTERM and SIGKILL (Slurm's KillWait).</summary>
    public TimeSpan KillWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the process monitor samples every running job's process tree.</summary>
    public TimeSpan MonitorInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The share of its memory limit at which a job gets a warning event.</summary>
    public double MemoryWarningFraction { get; set; } = 0.9;

    /// <summary>The node utilisation at which the resource alert fires.</summary>
    public double UtilizationAlertThreshold { get; set; } = 0.9;

    /// <summary>Pin each job to exactly its allocated CPUs.</summary>
    public bool PinCpus { get; set; } = true;

    /// <summary>Let the kernel enforce memory limits through cgroups where the machine allows it.</summary>
    public bool UseCgroups { get; set; } = true;

    /// <summary>How long making and opening a job's working directory and output files may take before the launch fails.</summary>
    public TimeSpan FileAccessTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Directories no job output may be written into (the data directory), besides the scripts directory.</summary>
    public IList<string> ProtectedDirectories { get; set; } = [];

    /// <summary>On shutdown, wait for running jobs to finish instead of leaving them to be adopted at the next start.</summary>
    public bool Drain { get; set; }
}

/// <summary>Checks <see cref="AgentOptions"/> when the host starts.</summary>
public sealed class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!Core.Nodes.NodeName.IsValid(options.NodeName))
        {
            errors.Add($"{nameof(AgentOptions.NodeName)} '{options.NodeName}' is not a valid node name.");
        }

        if (!Core.Scheduling.GresList.TryParse(options.Gres, out _, out var gresError))
        {
            errors.Add($"{nameof(AgentOptions.Gres)}: {gresError}.");
        }

        if (options.GpuDeviceFiles.Any(f => !Path.IsPathRooted(f)))
        {
            errors.Add($"{nameof(AgentOptions.GpuDeviceFiles)} must be absolute paths.");
        }

        if (options.Cpus < 1)
        {
            errors.Add($"{nameof(AgentOptions.Cpus)} must be at least 1.");
        }

        if (options.MemoryMiB < 0)
        {
            errors.Add($"{nameof(AgentOptions.MemoryMiB)} must not be negative.");
        }

        if (options.Partitions is null || options.Partitions.Count == 0 || options.Partitions.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add($"{nameof(AgentOptions.Partitions)} must name at least one partition, none of them empty.");
        }

        if (string.IsNullOrWhiteSpace(options.ScriptsDirectory) || !Path.IsPathRooted(options.ScriptsDirectory))
        {
            errors.Add($"{nameof(AgentOptions.ScriptsDirectory)} must be an absolute path.");
        }

        Positive(options.PollInterval, nameof(AgentOptions.PollInterval), errors);
        Positive(options.HeartbeatInterval, nameof(AgentOptions.HeartbeatInterval), errors);
        if (options.KillWait < TimeSpan.Zero)
        {
            errors.Add($"{nameof(AgentOptions.KillWait)} must not be negative.");
        }

        Positive(options.MonitorInterval, nameof(AgentOptions.MonitorInterval), errors);
        if (options.MemoryWarningFraction is <= 0 or > 1)
        {
            errors.Add($"{nameof(AgentOptions.MemoryWarningFraction)} must be more than 0 and at most 1.");
        }

        if (options.UtilizationAlertThreshold is <= 0 or > 1)
        {
            errors.Add($"{nameof(AgentOptions.UtilizationAlertThreshold)} must be more than 0 and at most 1.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(TimeSpan value, string name, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{name} must be positive.");
        }
    }
}

internal static class AgentOptionsExtensions
{
    public static NodeName Node(this AgentOptions options) => new(options.NodeName);

    public static NodeRegistration ToRegistration(this AgentOptions options) =>
        new(options.Node(), options.Cpus, options.MemoryMiB, [.. options.Partitions], Gres: Core.Scheduling.GresList.Parse(options.Gres));
}
