using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Conductor.Core.Identity;

/// <summary>A path that may not be used for a job's output or read back through the API, with the reason.</summary>
public sealed class UnsafePathException(string message) : IOException(message);

/// <summary>
/// Opens job output files the safe way: the last component never a symbolic link, a FIFO or device never waited
/// on (non-blocking open, then only regular files accepted), never a file of the server's data directory, and a
/// file truncated only once all that is known. Run it through <see cref="UserFileAccess"/> to have the user's rights.
/// </summary>
public static class SafeFiles
{
    private const string LibC = "libc";
    private const int O_RDONLY = 0x0;
    private const int O_WRONLY = 0x1;
    private const int O_CREAT = 0x40;
    private const int O_NOCTTY = 0x100;
    private const int O_NONBLOCK = 0x800;
    private const int O_CLOEXEC = 0x80000;
    private const int O_PATH = 0x200000;
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    private const int X_OK = 1;
    private const int AT_FDCWD = -100;
    private const int AT_EACCESS = 0x200;
    private const int AT_EMPTY_PATH = 0x1000;
    private const int S_IFMT = 0xF000;
    private const int S_IFREG = 0x8000;
    private const int S_IFDIR = 0x4000;
    private const int ELOOP = 40;
    private const int ENXIO = 6;

    private static int O_NOFOLLOW => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;

    private static int O_DIRECTORY => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000;

    /// <summary>
    /// Creates (or empties) an output file for writing; the handle is blocking again when returned. Throws
    /// <see cref="UnsafePathException"/> with the reason when the path is not a regular file the caller may write
    /// outside <paramref name="protectedDirectories"/>.
    /// </summary>
    public static SafeFileHandle OpenOutput(string path, IReadOnlyList<string> protectedDirectories)
    {
        ArgumentNullException.ThrowIfNull(protectedDirectories);
        var fd = Open(path, O_WRONLY | O_CREAT | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0x1A4, "write");
        var handle = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        try
        {
            var stat = Stat(fd, path);
            if (stat.IsNullDevice)
            {
                return handle;
            }

            RequireRegular(stat, path);
            if (Protected(fd, stat, protectedDirectories) is { } inside)
            {
                throw new UnsafePathException($"{path} is inside the server's data directory {inside}; job output may not go there");
            }

            if (ftruncate(fd, 0) != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) & ~O_NONBLOCK) != 0)
            {
                throw new UnsafePathException($"could not prepare {path}: {LastError()}");
            }

            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Opens a job output file for reading; null when it does not exist. Regular files only, never through a final symbolic link.</summary>
    public static FileStream? OpenForReading(string path)
    {
        int fd;
        try
        {
            fd = Open(path, O_RDONLY | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0, "read");
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        var handle = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        try
        {
            RequireRegular(Stat(fd, path), path);
            return new FileStream(handle, FileAccess.Read, bufferSize: 0);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A handle on a working directory the caller may enter (search permission checked with the caller's rights),
    /// for the launcher's fchdir.
    /// </summary>
    public static SafeFileHandle OpenDirectory(string path)
    {
        var fd = Open(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, "enter");
        var handle = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0)
        {
            handle.Dispose();
            throw new UnsafePathException($"cannot enter the working directory {path}: {LastError()}");
        }

        return handle;
    }

    private static int Open(string path, int flags, int mode, string purpose)
    {
        var fd = open(path, flags, mode);
        if (fd >= 0)
        {
            return fd;
        }

        var errno = Marshal.GetLastPInvokeError();
        throw errno switch
        {
            2 when purpose == "read" => new FileNotFoundException(path),
            ELOOP when purpose != "enter" => new UnsafePathException($"{path} is a symbolic link; job output files must be regular files"),
            ENXIO => new UnsafePathException($"{path} is a FIFO or socket without a reader; job output files must be regular files"),
            _ => new UnsafePathException($"cannot {purpose} {path}: {Marshal.GetPInvokeErrorMessage(errno)}"),
        };
    }

    private readonly record struct FileIdentity(int Mode, long Links, ulong Inode, uint DevMajor, uint DevMinor, uint RdevMajor, uint RdevMinor)
    {
        /// <summary>/dev/null (character device 1:3): the one device a job may write to, as Slurm users do.</summary>
        public bool IsNullDevice => (Mode & S_IFMT) == 0x2000 && RdevMajor == 1 && RdevMinor == 3;
    }

    private static FileIdentity Stat(int fd, string path)
    {
        // struct statx: nlink at 16, mode at 28, ino at 32, rdev major/minor at 128/132, dev major/minor at 136/140.
        var buffer = Marshal.AllocHGlobal(256);
        try
        {
            if (statx(fd, "", AT_EMPTY_PATH, 0x7FF, buffer) != 0)
            {
                throw new UnsafePathException($"cannot examine {path}: {LastError()}");
            }

            return new FileIdentity(
                Marshal.ReadInt16(buffer, 28) & 0xFFFF,
                (uint)Marshal.ReadInt32(buffer, 16),
                (ulong)Marshal.ReadInt64(buffer, 32),
                (uint)Marshal.ReadInt32(buffer, 136),
                (uint)Marshal.ReadInt32(buffer, 140),
                (uint)Marshal.ReadInt32(buffer, 128),
                (uint)Marshal.ReadInt32(buffer, 132));
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    private static void RequireRegular(FileIdentity stat, string path)
    {
        if ((stat.Mode & S_IFMT) != S_IFREG)
        {
            var kind = (stat.Mode & S_IFMT) switch
            {
                S_IFDIR => "a directory",
                0x1000 => "a FIFO",
                0x2000 => "a character device",
                0x6000 => "a block device",
                0xC000 => "a socket",
                _ => "not a regular file",
            };
            throw new UnsafePathException($"{path} is {kind}; job output files must be regular files");
        }
    }

    /// <summary>The protected directory the open file lies in (by its real path, or by a hard link to one of its files), or null.</summary>
    private static string? Protected(int fd, FileIdentity stat, IReadOnlyList<string> protectedDirectories)
    {
        var real = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        foreach (var directory in protectedDirectories)
        {
            var root = RealPath(directory);
            if (real is not null && (real == root || real.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal)))
            {
                return directory;
            }

            if (stat.Links > 1 && Directory.Exists(root))
            {
                foreach (var file in Directory.EnumerateFiles(root))
                {
                    var other = open(file, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
                    if (other < 0)
                    {
                        continue;
                    }

                    using var otherHandle = new SafeFileHandle((IntPtr)other, ownsHandle: true);
                    var id = Stat(other, file);
                    if (id.Inode == stat.Inode && id.DevMajor == stat.DevMajor && id.DevMinor == stat.DevMinor)
                    {
                        return directory;
                    }
                }
            }
        }

        return null;
    }

    private static string RealPath(string path)
    {
        var resolved = realpath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            return Path.GetFullPath(path);
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved) ?? path;
        }
        finally
        {
            free(resolved);
        }
    }

    private static string LastError() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    [DllImport(LibC, SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport(LibC, SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, IntPtr buffer);

    [DllImport(LibC, SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int faccessat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int mode, int flags);

    [DllImport(LibC, SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport(LibC)]
    private static extern void free(IntPtr pointer);

    [DllImport(LibC, SetLastError = true)]
    private static extern int ftruncate(int fd, long length);

    [DllImport(LibC, SetLastError = true)]
    private static extern int fcntl(int fd, int cmd, int arg);
}
