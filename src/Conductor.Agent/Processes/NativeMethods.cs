using System.Runtime.InteropServices;

namespace Conductor.Agent.Processes;

/// <summary>The glibc calls the agent needs, with Linux x86_64/arm64 constants.</summary>
internal static class NativeMethods
{
    private const string LibC = "libc";

    // posix_spawnattr flags (glibc spawn.h).
    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;
    public const short POSIX_SPAWN_SETSID = 0x80;

    // open(2) flags; identical on x86_64 and arm64 for these bits.
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_CREAT = 0x40;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;

    // waitid(2)
    public const int P_PID = 1;
    public const int WEXITED = 0x4;
    public const int WNOWAIT = 0x01000000;

    public const int EINTR = 4;
    public const int ESRCH = 3;
    public const int ECHILD = 10;

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    /// <summary>
    /// Generous sizes for opaque glibc structures (posix_spawnattr_t is 336 bytes, posix_spawn_file_actions_t
    /// 80, sigset_t 128 and siginfo_t 128 on x86_64).
    /// </summary>
    public const int OpaqueStructSize = 1024;

    [DllImport(LibC)]
    public static extern int posix_spawn(out int pid, IntPtr path, IntPtr fileActions, IntPtr attr, IntPtr argv, IntPtr envp);

    [DllImport(LibC)]
    public static extern int posix_spawnattr_init(IntPtr attr);

    [DllImport(LibC)]
    public static extern int posix_spawnattr_destroy(IntPtr attr);

    [DllImport(LibC)]
    public static extern int posix_spawnattr_setflags(IntPtr attr, short flags);

    [DllImport(LibC)]
    public static extern int posix_spawnattr_setsigdefault(IntPtr attr, IntPtr sigdefault);

    [DllImport(LibC)]
    public static extern int posix_spawnattr_setsigmask(IntPtr attr, IntPtr sigmask);

    [DllImport(LibC)]
    public static extern int posix_spawn_file_actions_init(IntPtr fileActions);

    [DllImport(LibC)]
    public static extern int posix_spawn_file_actions_destroy(IntPtr fileActions);

    [DllImport(LibC)]
    public static extern int posix_spawn_file_actions_addopen(IntPtr fileActions, int fd, IntPtr path, int oflag, uint mode);

    [DllImport(LibC)]
    public static extern int posix_spawn_file_actions_adddup2(IntPtr fileActions, int fd, int newFd);

    [DllImport(LibC)]
    public static extern int posix_spawn_file_actions_addchdir_np(IntPtr fileActions, IntPtr path);

    [DllImport(LibC)]
    public static extern int posix_spawn_file_actions_addfchdir_np(IntPtr fileActions, int fd);

    [DllImport(LibC, SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    public static extern int chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int owner, int group);

    [DllImport(LibC, SetLastError = true)]
    public static extern int sigemptyset(IntPtr set);

    [DllImport(LibC, SetLastError = true)]
    public static extern int sigfillset(IntPtr set);

    [DllImport(LibC, SetLastError = true)]
    public static extern int waitid(int idType, int id, IntPtr info, int options);

    [DllImport(LibC, SetLastError = true)]
    public static extern int waitpid(int pid, out int status, int options);

    [DllImport(LibC, SetLastError = true)]
    public static extern int wait4(int pid, out int status, int options, IntPtr rusage);

    [DllImport(LibC, SetLastError = true)]
    public static extern int kill(int pid, int sig);

    [DllImport(LibC, SetLastError = true)]
    public static extern int sched_setaffinity(int pid, IntPtr cpusetsize, byte[] mask);

    [DllImport(LibC, SetLastError = true)]
    public static extern int sched_getaffinity(int pid, IntPtr cpusetsize, byte[] mask);

    /// <summary>The size of cpu_set_t: room for 1024 CPUs.</summary>
    public const int CpuSetBytes = 128;

    // pidfd_open(2) (no glibc wrapper before 2.36: the system call's number, the same on x86_64 and arm64) and epoll(7).
    public const long SYS_pidfd_open = 434;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const uint EPOLLONESHOT = 0x40000000;
    public const uint EPOLLIN = 0x001;

    [DllImport(LibC, SetLastError = true)]
    public static extern int syscall(long number, int pid, uint flags);

    [DllImport(LibC, SetLastError = true)]
    public static extern int epoll_create1(int flags);

    [DllImport(LibC, SetLastError = true)]
    public static extern int epoll_ctl(int epfd, int op, int fd, byte[]? ev);

    [DllImport(LibC, SetLastError = true)]
    public static extern int epoll_wait(int epfd, byte[] events, int maxEvents, int timeout);

    [DllImport(LibC, SetLastError = true)]
    public static extern int close(int fd);

    /// <summary>
    /// struct epoll_event: a uint32 of events, then 64 bits of data; packed (12 bytes) on x86_64, aligned (16) elsewhere.
    /// </summary>
    public static int EpollEventSize => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    public static int EpollDataOffset => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>The text strerror(3) gives for an errno value.</summary>
    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
