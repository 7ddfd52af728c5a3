using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Conductor.Agent.Processes;

/// <summary>
/// One thread that learns of every job leader's exit: a pidfd per child in one epoll set. A pidfd turns readable when
/// its process has exited, before anyone reaps it, so the exit status stays in the kernel for <see
/// cref="PosixProcessLauncher.Reap"/> exactly as with <c>waitid(WNOWAIT)</c>, and an agent killed meanwhile loses
/// nothing (its successor adopts the job by pid and start time). It replaces a thread per job blocked in <c>waitid</c>:
/// no thread to create and end per job. Null where the kernel has no pidfd (before Linux 5.3): then the caller waits
/// the old way.
/// </summary>
internal sealed class ExitWatcher
{
    private static readonly Lazy<ExitWatcher?> Instance = new(Create);

    private readonly int _epoll;
    /// <summary>
    /// The watched pidfds by a number of their own, which is what the epoll set carries: never the fd's number, which
    /// another file may have by the time a late event names it.
    /// </summary>
    private readonly ConcurrentDictionary<long, (int Fd, TaskCompletionSource Exited)> _waiting = new();
    private long _lastKey;

    private ExitWatcher(int epoll)
    {
        _epoll = epoll;
        var thread = new Thread(Run) { IsBackground = true, Name = "conductor-exit-watcher" };
        thread.Start();
    }

    public static ExitWatcher? Shared => Instance.Value;

    /// <summary>A task that ends when the child <paramref name="pid"/> exits (not reaped); null when it cannot be watched.</summary>
    public Task? Watch(int pid)
    {
        var fd = NativeMethods.syscall(NativeMethods.SYS_pidfd_open, pid, 0);
        if (fd < 0)
        {
            return null;
        }

        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var key = Interlocked.Increment(ref _lastKey);
        _waiting[key] = (fd, exited);
        var ev = new byte[NativeMethods.EpollEventSize];
        BinaryPrimitives.WriteUInt32LittleEndian(ev, NativeMethods.EPOLLIN | NativeMethods.EPOLLONESHOT);
        BinaryPrimitives.WriteInt64LittleEndian(ev.AsSpan(NativeMethods.EpollDataOffset), key);
        if (NativeMethods.epoll_ctl(_epoll, NativeMethods.EPOLL_CTL_ADD, fd, ev) != 0)
        {
            _waiting.TryRemove(key, out _);
            _ = NativeMethods.close(fd);
            return null;
        }

        return exited.Task;
    }

    private static ExitWatcher? Create()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // Probe: pidfd_open of this process itself.
        var probe = NativeMethods.syscall(NativeMethods.SYS_pidfd_open, Environment.ProcessId, 0);
        if (probe < 0)
        {
            return null;
        }

        _ = NativeMethods.close(probe);
        var epoll = NativeMethods.epoll_create1(NativeMethods.EPOLL_CLOEXEC);
        return epoll < 0 ? null : new ExitWatcher(epoll);
    }

    private void Run()
    {
        const int MaxEvents = 64;
        var size = NativeMethods.EpollEventSize;
        var events = new byte[MaxEvents * size];
        while (true)
        {
            var n = NativeMethods.epoll_wait(_epoll, events, MaxEvents, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == NativeMethods.EINTR)
                {
                    continue;
                }

                // Nothing sensible is left: fail every waiter so that its job is handled, not hung.
                var error = new InvalidOperationException($"epoll_wait failed: {NativeMethods.ErrorText(Marshal.GetLastPInvokeError())}");
                foreach (var key in _waiting.Keys)
                {
                    if (_waiting.TryRemove(key, out var waiter))
                    {
                        waiter.Exited.TrySetException(error);
                    }
                }

                return;
            }

            for (var i = 0; i < n; i++)
            {
                var key = BinaryPrimitives.ReadInt64LittleEndian(events.AsSpan((i * size) + NativeMethods.EpollDataOffset));
                if (!_waiting.TryRemove(key, out var watched))
                {
                    continue;
                }

                // Out of the set first: a child being spawned may hold a copy of the pidfd for a moment, and a closed
                // fd whose file is still open elsewhere would stay in the set. The process stays a zombie until reaped.
                _ = NativeMethods.epoll_ctl(_epoll, NativeMethods.EPOLL_CTL_DEL, watched.Fd, null);
                _ = NativeMethods.close(watched.Fd);
                watched.Exited.TrySetResult();
            }
        }
    }
}
