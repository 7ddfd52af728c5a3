using System.Collections;
using System.Globalization;
using Conductor.Core.Identity;
using Conductor.Core.Scheduling;

namespace Conductor.Agent.Execution;

/// <summary>
/// Builds a job's environment. Only a short whitelist of the agent's own variables is passed on: the agent's
/// process may hold database credentials and tokens (CONDUCTOR_TOKEN, CONDUCTOR_DB, PG*, ...).
/// </summary>
public static class JobEnvironment
{
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>The variable that names the attempt's own directory.</summary>
    public const string JobDirectoryVariable = "CONDUCTOR_JOB_DIR";

    /// <summary>The agent's variables a job inherits.</summary>
    public static IReadOnlyList<string> InheritedVariables { get; } =
        ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL"];

    /// <summary>
    /// Whitelisted agent variables, then the job's submitted variables, then the SLURM_* and CONDUCTOR_* job
    /// variables and PWD, each later layer overriding the earlier ones. <paramref name="commandsDirectory"/>, when
    /// given, goes first on PATH, so that the job finds Slurm's commands whatever PATH it brought.
    /// </summary>
    /// <param name="jobDirectory">The attempt's own directory, removed once its end is recorded: given to the job as
    /// <c>CONDUCTOR_JOB_DIR</c>, where srun counts the job's steps.</param>
    /// <param name="user">The Unix user the job runs as, whose passwd entry says who the job is.</param>
    public static IReadOnlyDictionary<string, string> Build(
        JobLaunch launch, IReadOnlyDictionary<string, string> agentEnvironment, string? commandsDirectory = null, string? jobDirectory = null,
        UnixUser? user = null)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(agentEnvironment);

        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in InheritedVariables)
        {
            if (agentEnvironment.TryGetValue(name, out var value))
            {
                env[name] = value;
            }
        }

        env.TryAdd("PATH", DefaultPath);

        foreach (var (name, value) in launch.Spec.Environment)
        {
            env[name] = value;
        }

        foreach (var (suffix, value) in JobVariables(launch))
        {
            env["SLURM_" + suffix] = value;
            env["CONDUCTOR_" + suffix] = value;
        }

        // The GPUs the job holds, by index, as CUDA and ROCm programs and Slurm users read them; they override any
        // submitted value, so a job that asked for GPUs sees only its own.
        if (launch.Job.Devices.Count > 0 || launch.Spec.Gres.Gpus > 0)
        {
            var gpus = GresDevice.Indices(launch.Job.Devices);
            env["CUDA_VISIBLE_DEVICES"] = gpus;
            env["GPU_DEVICE_ORDINAL"] = gpus;
            env["SLURM_JOB_GPUS"] = gpus;
            env["CONDUCTOR_JOB_GPUS"] = gpus;
        }

        if (commandsDirectory is not null)
        {
            var rest = env["PATH"].Split(':').Where(p => p != commandsDirectory);
            env["PATH"] = string.Join(':', rest.Prepend(commandsDirectory));
        }

        if (jobDirectory is not null)
        {
            env[JobDirectoryVariable] = jobDirectory;
        }

        if (user is not null)
        {
            // Who the job is comes from the passwd entry of the user it runs as, never from the submission.
            env["HOME"] = user.Home;
            env["USER"] = user.Name;
            env["LOGNAME"] = user.Name;
            env["SHELL"] = user.Shell;
            env["SLURM_JOB_USER"] = user.Name;
            env["CONDUCTOR_JOB_USER"] = user.Name;
            env["SLURM_JOB_UID"] = user.Uid.ToString(CultureInfo.InvariantCulture);
            env["CONDUCTOR_JOB_UID"] = env["SLURM_JOB_UID"];
        }

        env["PWD"] = launch.Spec.WorkDir;
        return env;
    }

    /// <summary>The current process's environment, as <see cref="Build"/> takes it.</summary>
    public static IReadOnlyDictionary<string, string> Current()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                result[key] = value;
            }
        }

        return result;
    }

    private static IEnumerable<(string Suffix, string Value)> JobVariables(JobLaunch launch)
    {
        static string N(long n) => n.ToString(CultureInfo.InvariantCulture);

        yield return ("JOB_ID", launch.JobId.ToString());
        yield return ("JOBID", launch.JobId.ToString());
        yield return ("JOB_NAME", launch.Spec.Name);
        yield return ("JOB_ACCOUNT", launch.Spec.Account);
        yield return ("JOB_USER", launch.Spec.Owner);
        yield return ("JOB_PARTITION", launch.Spec.Partition);
        yield return ("JOB_NODELIST", launch.Node.Value);
        yield return ("NODELIST", launch.Node.Value);
        yield return ("JOB_NUM_NODES", "1");
        yield return ("NNODES", "1");
        yield return ("NODEID", "0");
        yield return ("PROCID", "0");
        yield return ("LOCALID", "0");
        yield return ("CLUSTER_NAME", "conductor");
        yield return ("CPUS_PER_TASK", N(launch.Spec.CpusPerTask));
        yield return ("NTASKS", N(launch.Spec.Ntasks));
        yield return ("NPROCS", N(launch.Spec.Ntasks));
        yield return ("TASKS_PER_NODE", N(launch.Spec.Ntasks));
        yield return ("CPUS_ON_NODE", N(launch.Spec.TotalCpus));
        yield return ("JOB_CPUS_PER_NODE", N(launch.Spec.TotalCpus));
        yield return ("SUBMIT_DIR", launch.Spec.WorkDir);
        yield return ("RESTART_COUNT", N(Math.Max(0, launch.Attempt - 1)));
        if (launch.Spec.MemoryMiB is { } memory)
        {
            yield return ("MEM_PER_NODE", N(memory));
        }

        // A task of an array: SLURM_JOB_ID above is the task's own (raw) id, as in Slurm.
        if (launch.Job.ArrayJobId is { } array && launch.Job.ArrayTaskId is { } task && launch.Spec.Array is { } spec)
        {
            yield return ("ARRAY_JOB_ID", array.ToString());
            yield return ("ARRAY_TASK_ID", N(task));
            yield return ("ARRAY_TASK_COUNT", N(spec.Tasks.Count));
            yield return ("ARRAY_TASK_MIN", N(spec.Tasks.Min));
            yield return ("ARRAY_TASK_MAX", N(spec.Tasks.Max));
            yield return ("ARRAY_TASK_STEP", N(spec.Tasks.Step));
        }
    }
}
