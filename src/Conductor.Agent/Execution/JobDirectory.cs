using System.Globalization;
using System.Runtime.InteropServices;
using Conductor.Agent.Processes;
using Conductor.Core.Identity;
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

    /// <summary>The counter of the job's steps, which srun inside the job keeps (Slurm's step ids 0, 1, 2...).</summary>
    public string StepsPath => Path.Combine(Root, "steps");

    public static JobDirectory For(string scriptsDirectory, JobId id, int attempt) =>
        new(Path.Combine(scriptsDirectory, string.Create(CultureInfo.InvariantCulture, $"job-{id}-{attempt}")));

    public bool Exists => System.IO.Directory.Exists(Root);

    /// <summary>
    /// Writes the script. For a job of another user (<paramref name="owner"/>) the directory stays the agent's and
    /// may only be passed through (0711), and the script becomes the owner's alone (0500): the job reads its script,
    /// no other user does, and nobody but the agent can put a status file there. The steps counter is the owner's too.
    /// </summary>
    public void Create(string script, UnixUser? owner = null)
    {
        System.IO.Directory.CreateDirectory(Root, DirectoryMode);
        File.Delete(StatusPath);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = DirectoryMode };
        using (var stream = new FileStream(ScriptPath, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(script);
        }

        if (owner is null || owner.Uid == UnixUser.Current.Uid)
        {
            File.SetUnixFileMode(Root, DirectoryMode);
            File.SetUnixFileMode(ScriptPath, DirectoryMode);
            return;
        }

        File.SetUnixFileMode(Root, DirectoryMode | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        if (NativeMethods.chown(ScriptPath, owner.Uid, owner.Gid) != 0)
        {
            throw new IOException($"could not give the script to user {owner.Name}: {NativeMethods.ErrorText(Marshal.GetLastPInvokeError())}");
        }

        File.SetUnixFileMode(ScriptPath, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        using (new FileStream(StepsPath, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        {
        }

        if (NativeMethods.chown(StepsPath, owner.Uid, owner.Gid) != 0)
        {
            throw new IOException($"could not give the steps counter to user {owner.Name}: {NativeMethods.ErrorText(Marshal.GetLastPInvokeError())}");
        }
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
