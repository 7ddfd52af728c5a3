using System.Runtime.InteropServices;

namespace Conductor.Agent.Processes;

/// <summary>
/// Launches processes with glibc's posix_spawn (2.29 or later): a new session, every signal disposition reset to
/// its default (the .NET runtime ignores SIGPIPE, which children would otherwise inherit), an empty signal mask,
/// the exact environment given, and redirection and chdir done by the child. No pipes are involved.
/// </summary>
public sealed class PosixProcessLauncher : IProcessLauncher
{
    private const uint FileMode0644 = 0x1A4;

    public LaunchedProcess Launch(LaunchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Argv.Count == 0)
        {
            throw new ArgumentException("argv must contain at least argv[0].", nameof(request));
        }

        using var memory = new NativeAllocations();
        var attr = memory.Zeroed(NativeMethods.OpaqueStructSize);
        var actions = memory.Zeroed(NativeMethods.OpaqueStructSize);
        var sigDefault = memory.Zeroed(NativeMethods.OpaqueStructSize);
        var sigMask = memory.Zeroed(NativeMethods.OpaqueStructSize);

        Check(NativeMethods.posix_spawnattr_init(attr), "posix_spawnattr_init");
        try
        {
            Check(NativeMethods.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
            try
            {
                return Spawn(request, memory, attr, actions, sigDefault, sigMask);
            }
            finally
            {
                _ = NativeMethods.posix_spawn_file_actions_destroy(actions);
            }
        }
        finally
        {
            _ = NativeMethods.posix_spawnattr_destroy(attr);
        }
    }

    private static LaunchedProcess Spawn(
        LaunchRequest request, NativeAllocations memory, IntPtr attr, IntPtr actions, IntPtr sigDefault, IntPtr sigMask)
    {
        CheckErrno(NativeMethods.sigfillset(sigDefault), "sigfillset");
        CheckErrno(NativeMethods.sigemptyset(sigMask), "sigemptyset");
        Check(NativeMethods.posix_spawnattr_setsigdefault(attr, sigDefault), "posix_spawnattr_setsigdefault");
        Check(NativeMethods.posix_spawnattr_setsigmask(attr, sigMask), "posix_spawnattr_setsigmask");
        Check(NativeMethods.posix_spawnattr_setflags(
            attr,
            NativeMethods.POSIX_SPAWN_SETSID | NativeMethods.POSIX_SPAWN_SETSIGDEF | NativeMethods.POSIX_SPAWN_SETSIGMASK),
            "posix_spawnattr_setflags");

        Check(NativeMethods.posix_spawn_file_actions_addopen(
            actions, 0, memory.Utf8("/dev/null"), NativeMethods.O_RDONLY | NativeMethods.O_NOCTTY, 0),
            "posix_spawn_file_actions_addopen(stdin)");
        if (request.Files is { } files)
        {
            // Opened beforehand with the job's user's rights; dup2 clears close-on-exec on the copies the child keeps.
            var stdout = (int)files.Stdout.DangerousGetHandle();
            Check(NativeMethods.posix_spawn_file_actions_adddup2(actions, stdout, 1), "posix_spawn_file_actions_adddup2(stdout)");
            var stderr = files.Stderr is { } err ? (int)err.DangerousGetHandle() : 1;
            Check(NativeMethods.posix_spawn_file_actions_adddup2(actions, stderr, 2), "posix_spawn_file_actions_adddup2(stderr)");
            Check(NativeMethods.posix_spawn_file_actions_addfchdir_np(actions, (int)files.WorkingDirectory.DangerousGetHandle()),
                "posix_spawn_file_actions_addfchdir_np");
        }
        else
        {
            AddPathActions(request, memory, actions);
        }

        var argv = memory.StringArray(request.Argv);
        var envp = memory.StringArray(request.Environment.Select(kv => kv.Key + "=" + kv.Value).ToList());
        var rc = SpawnPinned(request.CpuIds, memory.Utf8(request.Executable), actions, attr, argv, envp, out var pid);
        if (rc != 0)
        {
            throw new ProcessLaunchException(
                $"could not start {request.Executable} in {request.WorkingDirectory}: {NativeMethods.ErrorText(rc)}");
        }

        // The child has exec'd (posix_spawn reports exec failures), so its stat line is there until it is reaped.
        var startTicks = ProcStat.Read(pid)?.StartTicks ?? 0;
        return new LaunchedProcess(pid, startTicks);
    }

    private static void AddPathActions(LaunchRequest request, NativeAllocations memory, IntPtr actions)
    {
        const int outputFlags = NativeMethods.O_WRONLY | NativeMethods.O_CREAT | NativeMethods.O_TRUNC | NativeMethods.O_NOCTTY;
        Check(NativeMethods.posix_spawn_file_actions_addopen(
            actions, 1, memory.Utf8(request.StdoutPath), outputFlags, FileMode0644),
            "posix_spawn_file_actions_addopen(stdout)");
        if (request.StderrPath is null || request.StderrPath == request.StdoutPath)
        {
            Check(NativeMethods.posix_spawn_file_actions_adddup2(actions, 1, 2), "posix_spawn_file_actions_adddup2");
        }
        else
        {
            Check(NativeMethods.posix_spawn_file_actions_addopen(
                actions, 2, memory.Utf8(request.StderrPath), outputFlags, FileMode0644),
                "posix_spawn_file_actions_addopen(stderr)");
        }

        Check(NativeMethods.posix_spawn_file_actions_addchdir_np(actions, memory.Utf8(request.WorkingDirectory)),
            "posix_spawn_file_actions_addchdir_np");
    }

    /// <summary>
    /// posix_spawn with the child pinned: a new process inherits the CPU affinity of the thread that creates it, so
    /// this thread takes the job's CPUs for the moment of the spawn and gets its own back afterwards. Everything
    /// the job starts inherits the pinning; there is no moment at which the job runs unpinned.
    /// </summary>
    private static int SpawnPinned(IReadOnlyList<int> cpuIds, IntPtr path, IntPtr actions, IntPtr attr, IntPtr argv, IntPtr envp, out int pid)
    {
        if (cpuIds.Count == 0)
        {
            return NativeMethods.posix_spawn(out pid, path, actions, attr, argv, envp);
        }

        var previous = new byte[NativeMethods.CpuSetBytes];
        if (NativeMethods.sched_getaffinity(0, previous.Length, previous) != 0)
        {
            throw new ProcessLaunchException($"sched_getaffinity failed: {NativeMethods.ErrorText(Marshal.GetLastPInvokeError())}");
        }

        var mask = CpuMask(cpuIds);
        Thread.BeginThreadAffinity();
        try
        {
            if (NativeMethods.sched_setaffinity(0, mask.Length, mask) != 0)
            {
                throw new ProcessLaunchException(
                    $"could not pin the job to CPUs {string.Join(',', cpuIds)}: {NativeMethods.ErrorText(Marshal.GetLastPInvokeError())}");
            }

            try
            {
                return NativeMethods.posix_spawn(out pid, path, actions, attr, argv, envp);
            }
            finally
            {
                _ = NativeMethods.sched_setaffinity(0, previous.Length, previous);
            }
        }
        finally
        {
            Thread.EndThreadAffinity();
        }
    }

    /// <summary>A cpu_set_t with the given CPUs set.</summary>
    public static byte[] CpuMask(IEnumerable<int> cpuIds)
    {
        var mask = new byte[NativeMethods.CpuSetBytes];
        foreach (var cpu in cpuIds)
        {
            if (cpu < 0 || cpu >= mask.Length * 8)
            {
                throw new ProcessLaunchException($"CPU {cpu} is out of range");
            }

            mask[cpu / 8] |= (byte)(1 << (cpu % 8));
        }

        return mask;
    }

    /// <summary>The CPUs this process may run on, in ascending order.</summary>
    public static IReadOnlyList<int> AllowedCpus()
    {
        var mask = new byte[NativeMethods.CpuSetBytes];
        if (NativeMethods.sched_getaffinity(0, mask.Length, mask) != 0)
        {
            return Enumerable.Range(0, Environment.ProcessorCount).ToList();
        }

        var cpus = new List<int>();
        for (var i = 0; i < mask.Length * 8; i++)
        {
            if ((mask[i / 8] & (1 << (i % 8))) != 0)
            {
                cpus.Add(i);
            }
        }

        return cpus;
    }

    public Task WaitForLeaderExitAsync(LaunchedProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (!process.IsChild)
        {
            return WaitForStrangerAsync(process);
        }

        if (ExitWatcher.Shared?.Watch(process.Pid) is { } exited)
        {
            return exited;
        }

        return Task.Factory.StartNew(
            () => WaitWithoutReaping(process.Pid),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    public ProcessExit Reap(LaunchedProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (!process.IsChild)
        {
            return new ProcessExit(null, 0, 0);
        }

        // struct rusage: ru_utime and ru_stime (timeval, 16 bytes each), then ru_maxrss (long, KiB).
        var rusage = Marshal.AllocHGlobal(NativeMethods.OpaqueStructSize);
        try
        {
            while (true)
            {
                var rc = NativeMethods.wait4(process.Pid, out var status, 0, rusage);
                if (rc == process.Pid)
                {
                    var cpu = Seconds(rusage, 0) + Seconds(rusage, 16);
                    return new ProcessExit(status, cpu, Marshal.ReadInt64(rusage, 32));
                }

                var errno = Marshal.GetLastPInvokeError();
                if (rc < 0 && errno == NativeMethods.EINTR)
                {
                    continue;
                }

                throw new InvalidOperationException($"wait4({process.Pid}) failed: {NativeMethods.ErrorText(errno)}");
            }
        }
        finally
        {
            Marshal.FreeHGlobal(rusage);
        }
    }

    private static double Seconds(IntPtr timeval, int offset) =>
        Marshal.ReadInt64(timeval, offset) + (Marshal.ReadInt64(timeval, offset + 8) / 1_000_000.0);

    /// <summary>A process this agent did not start (adopted after a restart): it cannot be waited for, so watch /proc.</summary>
    private static async Task WaitForStrangerAsync(LaunchedProcess process)
    {
        while (process.IsAlive)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
        }
    }

    private static void WaitWithoutReaping(int pid)
    {
        var info = Marshal.AllocHGlobal(NativeMethods.OpaqueStructSize);
        try
        {
            while (true)
            {
                if (NativeMethods.waitid(NativeMethods.P_PID, pid, info, NativeMethods.WEXITED | NativeMethods.WNOWAIT) == 0)
                {
                    return;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != NativeMethods.EINTR)
                {
                    throw new InvalidOperationException($"waitid({pid}) failed: {NativeMethods.ErrorText(errno)}");
                }
            }
        }
        finally
        {
            Marshal.FreeHGlobal(info);
        }
    }

    private static void Check(int rc, string call)
    {
        if (rc != 0)
        {
            throw new ProcessLaunchException($"{call} failed: {NativeMethods.ErrorText(rc)}");
        }
    }

    private static void CheckErrno(int rc, string call)
    {
        if (rc != 0)
        {
            throw new ProcessLaunchException($"{call} failed: {NativeMethods.ErrorText(Marshal.GetLastPInvokeError())}");
        }
    }

    /// <summary>Native memory for one launch, all freed together.</summary>
    private sealed class NativeAllocations : IDisposable
    {
        private readonly List<IntPtr> _blocks = [];

        public IntPtr Zeroed(int size)
        {
            var block = Allocate(size);
            Marshal.Copy(new byte[size], 0, block, size);

            return block;
        }

        public IntPtr Utf8(string s)
        {
            if (s.Contains('\0', StringComparison.Ordinal))
            {
                throw new ProcessLaunchException("a path, argument or environment value contains a NUL character");
            }

            var block = Marshal.StringToCoTaskMemUTF8(s);
            _blocks.Add(block);
            return block;
        }

        /// <summary>A NULL-terminated array of UTF-8 strings (argv, envp).</summary>
        public IntPtr StringArray(IReadOnlyList<string> items)
        {
            var array = Zeroed((items.Count + 1) * IntPtr.Size);
            for (var i = 0; i < items.Count; i++)
            {
                Marshal.WriteIntPtr(array, i * IntPtr.Size, Utf8(items[i]));
            }

            return array;
        }

        public void Dispose()
        {
            foreach (var block in _blocks)
            {
                Marshal.FreeCoTaskMem(block);
            }

            _blocks.Clear();
        }

        private IntPtr Allocate(int size)
        {
            var block = Marshal.AllocCoTaskMem(size);
            _blocks.Add(block);
            return block;
        }
    }
}
