using System.Collections;
using System.Globalization;
using Conductor.Core.Identity;

namespace Conductor.Agent.Execution;

/// <summary>
/// Builds a job's environment. Only a short whitelist of the agent's own variables is passed on: the agent's
/// process may hold database credentials and tokens (CONDUCTOR_TOKEN, CONDUCTOR_DB, PG*, ...).
/// </summary>
public static class JobEnvironment
{
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>The agent's variables a job inherits.</summary>
    public static IReadOnlyList<string> InheritedVariables { get; } =
        ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL"];

    /// <summary>
    /// Whitelisted agent variables, then the job's submitted variables, then the SLURM_* and CONDUCTOR_* job
    /// variables and PWD, each later layer overriding the earlier ones.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Build(JobLaunch launch, IReadOnlyDictionary<string, string> agentEnvironment, UnixUser? user = null)
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
        yield return ("JOB_NAME", launch.Spec.Name);
        yield return ("JOB_ACCOUNT", launch.Spec.Account);
        yield return ("JOB_USER", launch.Spec.Owner);
        yield return ("JOB_PARTITION", launch.Spec.Partition);
        yield return ("JOB_NODELIST", launch.Node.Value);
        yield return ("CPUS_PER_TASK", N(launch.Spec.CpusPerTask));
        yield return ("NTASKS", N(launch.Spec.Ntasks));
        yield return ("JOB_CPUS_PER_NODE", N(launch.Spec.TotalCpus));
        yield return ("SUBMIT_DIR", launch.Spec.WorkDir);
        yield return ("RESTART_COUNT", N(Math.Max(0, launch.Attempt - 1)));
        if (launch.Spec.MemoryMiB is { } memory)
        {
            yield return ("MEM_PER_NODE", N(memory));
        }
    }
}
