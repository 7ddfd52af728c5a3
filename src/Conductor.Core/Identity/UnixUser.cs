using System.Runtime.InteropServices;

namespace Conductor.Core.Identity;

/// <summary>
/// A Unix user as the passwd and group databases describe it: what a job takes on before it runs (uid, gid,
/// supplementary groups) and the variables it sees (HOME, SHELL). Identity is the one place where the core asks
/// the operating system something; it reads, never changes.
/// </summary>
public sealed record UnixUser(string Name, int Uid, int Gid, IReadOnlyList<int> Groups, string Home, string Shell)
{
    private const string LibC = "libc";

    /// <summary>True when this process runs as root, so it can (and must) run each job as its owner.</summary>
    public static bool ProcessIsRoot => geteuid() == 0;

    /// <summary>The user this process runs as.</summary>
    public static UnixUser Current { get; } = FindById((int)geteuid()) ??
        new UnixUser(Environment.UserName, (int)geteuid(), (int)getegid(), [], Environment.GetEnvironmentVariable("HOME") ?? "/", "/bin/sh");

    public bool IsRoot => Uid == 0;

    /// <summary>The user of that name, or null when the passwd database has none.</summary>
    public static UnixUser? FindByName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Length > 256 || name.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        return Lookup((pwd, buffer, size) =>
        {
            var native = Marshal.StringToCoTaskMemUTF8(name);
            try
            {
                return getpwnam_r(native, pwd, buffer, size, out var result) is var rc && rc == 0 && result == IntPtr.Zero ? -1 : rc;
            }
            finally
            {
                Marshal.FreeCoTaskMem(native);
            }
        });
    }

    /// <summary>The user with that uid, or null when the passwd database has none.</summary>
    public static UnixUser? FindById(int uid) =>
        uid < 0 ? null : Lookup((pwd, buffer, size) =>
            getpwuid_r((uint)uid, pwd, buffer, size, out var result) is var rc && rc == 0 && result == IntPtr.Zero ? -1 : rc);

    private delegate int PasswdCall(IntPtr pwd, IntPtr buffer, IntPtr size);

    private static UnixUser? Lookup(PasswdCall call)
    {
        // struct passwd on 64-bit Linux: name, passwd (pointers), uid, gid (4 bytes each), gecos, dir, shell (pointers).
        const int ERANGE = 34;
        var pwd = Marshal.AllocHGlobal(64);
        var size = 4096;
        try
        {
            while (true)
            {
                var buffer = Marshal.AllocHGlobal(size);
                try
                {
                    var rc = call(pwd, buffer, size);
                    if (rc == ERANGE && size < 1 << 20)
                    {
                        size *= 4;
                        continue;
                    }

                    if (rc != 0)
                    {
                        return null;
                    }

                    var name = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 0)) ?? "";
                    var uid = Marshal.ReadInt32(pwd, 16);
                    var gid = Marshal.ReadInt32(pwd, 20);
                    var home = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 32)) ?? "/";
                    var shell = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(pwd, 40)) is { Length: > 0 } s ? s : "/bin/sh";
                    return new UnixUser(name, uid, gid, GroupsOf(name, gid), home, shell);
                }
                finally
                {
                    Marshal.FreeHGlobal(buffer);
                }
            }
        }
        finally
        {
            Marshal.FreeHGlobal(pwd);
        }
    }

    /// <summary>Every group the user belongs to (getgrouplist), the primary group included.</summary>
    private static IReadOnlyList<int> GroupsOf(string name, int gid)
    {
        var count = 64;
        while (true)
        {
            var groups = new int[count];
            var found = count;
            if (getgrouplist(name, (uint)gid, groups, ref found) >= 0)
            {
                return groups.Take(found).Distinct().ToArray();
            }

            if (found <= count || count >= 65536)
            {
                return [gid];
            }

            count = found;
        }
    }

    [DllImport(LibC)]
    private static extern uint geteuid();

    [DllImport(LibC)]
    private static extern uint getegid();

    [DllImport(LibC)]
    private static extern int getpwnam_r(IntPtr name, IntPtr pwd, IntPtr buffer, IntPtr size, out IntPtr result);

    [DllImport(LibC)]
    private static extern int getpwuid_r(uint uid, IntPtr pwd, IntPtr buffer, IntPtr size, out IntPtr result);

    [DllImport(LibC, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int getgrouplist([MarshalAs(UnmanagedType.LPUTF8Str)] string user, uint group, int[] groups, ref int ngroups);
}
