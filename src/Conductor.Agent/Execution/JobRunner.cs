using System.Globalization;
using Conductor.Agent.Hosting;
using Conductor.Agent.Processes;
using Conductor.Core.Parsing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Execution;

/// <summary>
/// Prepares and starts jobs: working directory, output directories, the script file, the environment and the
/// process. Preparation problems and launch failures become a finished <see cref="JobRun"/> with a
/// <see cref="OutcomeKind.LaunchFailed"/> outcome, never an exception.
/// </summary>
public sealed class JobRunner(
    IProcessLauncher launcher,
    ISignalSender signals,
    TimeProvider time,
    IOptions<AgentOptions> options,
    ILogger<JobRunner> logger)
{
    private const UnixFileMode ScriptMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// Starts one attempt of a job. The returned run stops the job when its time limit passes, when
    /// <see cref="JobRun.Stop"/> is called, or when <paramref name="shutdown"/> is cancelled.
    /// </summary>
    public JobRun Start(JobLaunch launch, CancellationToken shutdown)
    {
        ArgumentNullException.ThrowIfNull(launch);
        if (!TryPrepare(launch, out var request, out var error))
        {
            logger.LogWarning("Job {JobId} attempt {Attempt} could not be prepared: {Error}", launch.JobId, launch.Attempt, error);
            return JobRun.Failed(launch, error);
        }

        LaunchedProcess process;
        try
        {
            process = launcher.Launch(request);
        }
        catch (ProcessLaunchException e)
        {
            logger.LogWarning("Job {JobId} attempt {Attempt} could not be launched: {Error}", launch.JobId, launch.Attempt, e.Message);
            return JobRun.Failed(launch, e.Message);
        }

        AgentLog.Launched(logger, launch.JobId, launch.Attempt, process.Pid);
        var settings = options.Value;
        return JobRun.Started(launch, process, request.StdoutPath, request.StderrPath ?? request.StdoutPath,
            new JobRunContext(launcher, signals, time, settings.KillWait, logger), shutdown);
    }

    /// <summary>The path of a job attempt's script file.</summary>
    public static string ScriptPath(string scriptsDirectory, JobLaunch launch) =>
        Path.Combine(scriptsDirectory, string.Create(CultureInfo.InvariantCulture, $"job-{launch.JobId}-{launch.Attempt}.sh"));

    /// <summary>The program and argv for a script: a "#!" script runs itself, any other runs under /bin/bash.</summary>
    public static (string Executable, IReadOnlyList<string> Argv) CommandLine(string scriptPath, JobLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        return launch.Script.StartsWith("#!", StringComparison.Ordinal)
            ? (scriptPath, [scriptPath, .. launch.Arguments])
            : ("/bin/bash", ["/bin/bash", scriptPath, .. launch.Arguments]);
    }

    private bool TryPrepare(JobLaunch launch, out LaunchRequest request, out string error)
    {
        request = null!;
        if (OperatingSystem.IsWindows())
        {
            error = "jobs can only run on Linux";
            return false;
        }

        if (!Path.IsPathRooted(launch.WorkDir))
        {
            error = $"the working directory {launch.WorkDir} is not an absolute path";
            return false;
        }

        var workDir = Path.GetFullPath(launch.WorkDir);
        if (!TryCreateDirectory(workDir, "the working directory", out error))
        {
            return false;
        }

        var values = new OutputPatternValues(launch.JobId.ToString(), launch.Name, launch.Account, launch.Node.Value);
        var stdout = OutputPattern.Resolve(launch.StdoutPattern, values, workDir);
        var stderr = launch.StderrPattern is { } pattern ? OutputPattern.Resolve(pattern, values, workDir) : null;
        foreach (var file in stderr is null ? [stdout] : new[] { stdout, stderr })
        {
            if (Path.GetDirectoryName(file) is { } dir && !TryCreateDirectory(dir, "the output directory", out error))
            {
                return false;
            }
        }

        var scriptsDirectory = options.Value.ScriptsDirectory;
        if (!TryCreateDirectory(scriptsDirectory, "the scripts directory", out error))
        {
            return false;
        }

        var scriptPath = ScriptPath(scriptsDirectory, launch);
        try
        {
            var streamOptions = new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                UnixCreateMode = ScriptMode,
            };
            using (var stream = new FileStream(scriptPath, streamOptions))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(launch.Script);
            }

            File.SetUnixFileMode(scriptPath, ScriptMode);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"could not write the job script {scriptPath}: {Reason(e)}";
            return false;
        }

        var (executable, argv) = CommandLine(scriptPath, launch);
        var environment = JobEnvironment.Build(launch with { WorkDir = workDir }, JobEnvironment.Current());
        request = new LaunchRequest(executable, argv, environment, workDir, stdout, stderr);
        error = "";
        return true;
    }

    private static bool TryCreateDirectory(string path, string what, out string error)
    {
        try
        {
            Directory.CreateDirectory(path);
            error = "";
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"could not create {what} {path}: {Reason(e)}";
            return false;
        }
    }

    private static string Reason(Exception e) => e is UnauthorizedAccessException ? "Permission denied" : e.Message;
}
