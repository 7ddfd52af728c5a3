using System.Runtime.InteropServices;

namespace Conductor.Core.Identity;

/// <summary>
/// Runs file-system work with a user's rights, off the caller's thread and within a deadline: a job's outputs are
/// opened, and its output read back, only where its owner could do so, and a hostile path (a FIFO, a hung network
/// mount) costs one thread, never the agent's loop or a request thread.
/// </summary>
/// <remarks>
/// On Linux the file-system identity (fsuid, fsgid, supplementary groups) belongs to the thread, and the raw system
/// calls change only the calling thread (glibc's wrappers would change every thread of the process). So the work
/// runs on a thread of its own that takes the user's identity and ends with it: no pooled thread ever carries a
/// user's identity, and nothing has to be restored. Taking a non-root fsuid also drops the file capabilities
/// (CAP_DAC_OVERRIDE and kin), so every permission check is the user's own. Without root the work runs with the
/// process's own rights.
/// </remarks>
public static class UserFileAccess
{
    private const string LibC = "libc";

    /// <summary>How long file work as a user may take before its caller gives up on it.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs <paramref name="work"/> as <paramref name="user"/> (when this process is root and the user is not) and
    /// returns its result; throws <see cref="TimeoutException"/> when it has not ended within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<T> RunAsync<T>(UnixUser? user, Func<T> work, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var switchTo = UnixUser.ProcessIsRoot && user is { IsRoot: false } ? user : null;
        var thread = new Thread(() =>
        {
            try
            {
                if (switchTo is not null)
                {
                    TakeIdentity(switchTo);
                }

                done.TrySetResult(work());
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "conductor-user-files",
        };
        thread.Start();
        try
        {
            return await done.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the file system did not answer within {timeout.TotalSeconds:0} s");
        }
    }

    private static void TakeIdentity(UnixUser user)
    {
        var (setgroups, setfsgid, setfsuid) = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => (116L, 123L, 122L),
            Architecture.Arm64 => (159L, 152L, 151L),
            var other => throw new PlatformNotSupportedException($"switching file identity is not implemented for {other}"),
        };

        var groups = user.Groups.Count == 0 ? [user.Gid] : user.Groups.ToArray();
        var handle = GCHandle.Alloc(groups, GCHandleType.Pinned);
        try
        {
            if (syscall(setgroups, groups.Length, handle.AddrOfPinnedObject(), 0) != 0)
            {
                throw new UnauthorizedAccessException($"could not take the groups of user {user.Name}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
        }
        finally
        {
            handle.Free();
        }

        // setfsuid/setfsgid answer the previous id, never an error; read back to be sure the change took.
        _ = syscall(setfsgid, user.Gid, 0, 0);
        _ = syscall(setfsuid, user.Uid, 0, 0);
        if (syscall(setfsuid, -1, 0, 0) != user.Uid || syscall(setfsgid, -1, 0, 0) != user.Gid)
        {
            throw new UnauthorizedAccessException($"could not take the identity of user {user.Name}");
        }
    }

    [DllImport(LibC, SetLastError = true)]
    private static extern long syscall(long number, long arg1, IntPtr arg2, long arg3);

    [DllImport(LibC, SetLastError = true, EntryPoint = "syscall")]
    private static extern long syscall(long number, long arg1, long arg2, long arg3);
}
