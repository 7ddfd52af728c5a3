using System.Globalization;
using Conductor.Core.Jobs;

namespace Conductor.Agent.Execution;

/// <summary>
/// The agent's directory for one attempt of a job: the script and the exit status the wrapper writes. It lives
/// until the attempt's end is recorded in the store, so a restarted agent still finds the status there.
/// </summary>
public sealed class JobDirectory(string root)
{
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Root { get; } = root;
    public string ScriptPath => Path.Combine(Root, "script");
    public string StatusPath => Path.Combine(Root, "status");

    public static JobDirectory For(string scriptsDirectory, JobId id, int attempt) =>
        new(Path.Combine(scriptsDirectory, string.Create(CultureInfo.InvariantCulture, $"job-{id}-{attempt}")));

    public bool Exists => System.IO.Directory.Exists(Root);

    public void Create(string script)
    {
        System.IO.Directory.CreateDirectory(Root, DirectoryMode);
        File.Delete(StatusPath);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = DirectoryMode };
        using (var stream = new FileStream(ScriptPath, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(script);
        }

        File.SetUnixFileMode(ScriptPath, DirectoryMode);
    }

    public ExitCode? ReadStatus() => JobWrapper.ReadStatus(StatusPath);

    public void Delete()
    {
        try
        {
            System.IO.Directory.Delete(Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next start's cleanup.
        }
    }
}
