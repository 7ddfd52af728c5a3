using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Conductor.Agent.Monitoring;

/// <summary>A character device's number, as the kernel's device checks see it: <c>195:1</c> is the second NVIDIA GPU.</summary>
public readonly record struct DeviceNumber(uint Major, uint Minor)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}:{Minor}");

    /// <summary>The number of the character device file at <paramref name="path"/>, or null when it is not one (or is missing).</summary>
    public static DeviceNumber? OfCharacterDevice(string path)
    {
        var buffer = new byte[StatxSize];
        if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
        {
            return null;
        }

        var mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(StatxModeOffset));
        if ((mode & FileTypeMask) != CharacterDevice)
        {
            return null;
        }

        return new DeviceNumber(
            BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(StatxRdevMajorOffset)),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(StatxRdevMinorOffset)));
    }

    // struct statx (linux/stat.h) is laid out the same on every architecture.
    private const int StatxSize = 256;
    private const int StatxModeOffset = 0x1C;
    private const int StatxRdevMajorOffset = 0x80;
    private const int StatxRdevMinorOffset = 0x84;
    private const uint StatxType = 0x1;
    private const int AtFdCwd = -100;
    private const int FileTypeMask = 0xF000;
    private const int CharacterDevice = 0x2000;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
}

/// <summary>
/// The devices a job may not open: the GPUs of its node that it was not given. Under cgroup v1 the devices controller
/// keeps them from the job; under cgroup v2, which has no such controller, an eBPF program of type cgroup/device
/// attached to the job's group does (as systemd and container runtimes do).
/// </summary>
public static class DeviceFilter
{
    /// <summary>Denies read, write and mknod of each device in a v1 devices group (<c>devices.deny</c>).</summary>
    public static void DenyV1(string devicesGroup, IReadOnlyList<DeviceNumber> denied)
    {
        var file = Path.Combine(devicesGroup, "devices.deny");
        foreach (var device in denied)
        {
            File.WriteAllText(file, $"c {device} rwm");
        }
    }

    /// <summary>Attaches a program that refuses <paramref name="denied"/> and allows every other device to a v2 group.</summary>
    /// <exception cref="IOException">The kernel refused to load or attach the program.</exception>
    public static void AttachV2(string cgroupDirectory, IReadOnlyList<DeviceNumber> denied)
    {
        var program = Program(denied);
        var programFd = Load(program);
        try
        {
            var group = Open(cgroupDirectory, OReadOnly | OCloseOnExec);
            if (group < 0)
            {
                throw new IOException($"cannot open {cgroupDirectory}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }

            try
            {
                // union bpf_attr for BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags.
                var attr = new byte[AttrSize];
                BinaryPrimitives.WriteInt32LittleEndian(attr.AsSpan(0), group);
                BinaryPrimitives.WriteInt32LittleEndian(attr.AsSpan(4), programFd);
                BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(8), BpfCgroupDevice);
                if (Bpf(BpfProgAttach, attr) < 0)
                {
                    throw new IOException($"cannot attach the device filter to {cgroupDirectory}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }
            }
            finally
            {
                _ = Close(group);
            }
        }
        finally
        {
            // The group holds the program from now on.
            _ = Close(programFd);
        }
    }

    /// <summary>
    /// The eBPF program (struct bpf_insn, 8 bytes each): r1 is the bpf_cgroup_dev_ctx {access_type, major, minor};
    /// for a character device, each denied major:minor returns 0 (refuse); everything else returns 1 (allow).
    /// </summary>
    public static byte[] Program(IReadOnlyList<DeviceNumber> denied)
    {
        ArgumentNullException.ThrowIfNull(denied);
        var insns = new List<byte[]>
        {
            LoadWord(2, 0),                 // r2 = ctx->access_type
            Instruction(AluAndImm, 2, 0, 0, 0xFFFF), // r2 &= 0xFFFF: the device type
        };

        // if (r2 != BPF_DEVCG_DEV_CHAR) goto allow: patched once the allow label's place is known.
        var typeCheck = insns.Count;
        insns.Add([]);
        insns.Add(LoadWord(3, 4));          // r3 = ctx->major
        insns.Add(LoadWord(4, 8));          // r4 = ctx->minor
        var denyJumps = new List<int>();
        foreach (var device in denied)
        {
            insns.Add(Instruction(JumpIfNotEqualImm, 3, 0, 2, unchecked((int)device.Major)));
            insns.Add(Instruction(JumpIfNotEqualImm, 4, 0, 1, unchecked((int)device.Minor)));
            denyJumps.Add(insns.Count);
            insns.Add([]);                  // goto deny
        }

        var allow = insns.Count;
        insns.Add(Instruction(MoveImm, 0, 0, 0, 1));
        insns.Add(Instruction(Exit, 0, 0, 0, 0));
        var deny = insns.Count;
        insns.Add(Instruction(MoveImm, 0, 0, 0, 0));
        insns.Add(Instruction(Exit, 0, 0, 0, 0));

        insns[typeCheck] = Instruction(JumpIfNotEqualImm, 2, 0, (short)(allow - typeCheck - 1), DevCgroupCharacter);
        foreach (var at in denyJumps)
        {
            insns[at] = Instruction(JumpAlways, 0, 0, (short)(deny - at - 1), 0);
        }

        return [.. insns.SelectMany(i => i)];
    }

    private static byte[] LoadWord(byte dst, short offset) => Instruction(LoadMemWord, dst, 1, offset, 0);

    private static byte[] Instruction(byte opcode, byte dst, byte src, short offset, int immediate)
    {
        var insn = new byte[8];
        insn[0] = opcode;
        insn[1] = (byte)((src << 4) | dst);
        BinaryPrimitives.WriteInt16LittleEndian(insn.AsSpan(2), offset);
        BinaryPrimitives.WriteInt32LittleEndian(insn.AsSpan(4), immediate);
        return insn;
    }

    private static int Load(byte[] program)
    {
        var instructions = GCHandle.Alloc(program, GCHandleType.Pinned);
        var license = GCHandle.Alloc("GPL\0"u8.ToArray(), GCHandleType.Pinned);
        try
        {
            // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license (then log fields, left zero).
            var attr = new byte[AttrSize];
            BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(0), BpfProgTypeCgroupDevice);
            BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(4), (uint)(program.Length / 8));
            BinaryPrimitives.WriteUInt64LittleEndian(attr.AsSpan(8), (ulong)instructions.AddrOfPinnedObject());
            BinaryPrimitives.WriteUInt64LittleEndian(attr.AsSpan(16), (ulong)license.AddrOfPinnedObject());
            var fd = Bpf(BpfProgLoad, attr);
            return fd >= 0 ? (int)fd
                : throw new IOException($"cannot load the device filter: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            instructions.Free();
            license.Free();
        }
    }

    private static long Bpf(int command, byte[] attr) => Syscall(BpfSyscallNumber, command, attr, (uint)attr.Length);

    private static long BpfSyscallNumber => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 280 : 321;

    private const int AttrSize = 128;
    private const int BpfProgLoad = 5;
    private const int BpfProgAttach = 8;
    private const uint BpfProgTypeCgroupDevice = 15;
    private const uint BpfCgroupDevice = 6;
    private const int DevCgroupCharacter = 2;

    private const byte LoadMemWord = 0x61;      // BPF_LDX | BPF_MEM | BPF_W
    private const byte AluAndImm = 0x57;        // BPF_ALU64 | BPF_AND | BPF_K
    private const byte MoveImm = 0xB7;          // BPF_ALU64 | BPF_MOV | BPF_K
    private const byte JumpIfNotEqualImm = 0x55; // BPF_JMP | BPF_JNE | BPF_K
    private const byte JumpAlways = 0x05;       // BPF_JMP | BPF_JA
    private const byte Exit = 0x95;             // BPF_JMP | BPF_EXIT

    private const int OReadOnly = 0;
    private const int OCloseOnExec = 0x80000;

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Syscall(long number, long command, byte[] attr, uint size);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}

/// <summary>The node's GPUs as device files: which to keep from a job.</summary>
public static class GpuDevices
{
    /// <summary>
    /// The device number of each GPU index that has a character device file: the configured files, else
    /// <c>/dev/nvidia&lt;index&gt;</c> for each GPU the node declares.
    /// </summary>
    public static IReadOnlyDictionary<int, DeviceNumber> Numbers(Hosting.AgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var files = options.GpuDeviceFiles.Count > 0
            ? options.GpuDeviceFiles
            : Enumerable.Range(0, Core.Scheduling.GresList.Parse(options.Gres).Gpus)
                .Select(i => string.Create(CultureInfo.InvariantCulture, $"/dev/nvidia{i}")).ToList();
        var numbers = new Dictionary<int, DeviceNumber>();
        for (var i = 0; i < files.Count; i++)
        {
            if (DeviceNumber.OfCharacterDevice(files[i]) is { } number)
            {
                numbers[i] = number;
            }
        }

        return numbers;
    }

    /// <summary>The GPUs' device numbers a job holding <paramref name="held"/> may not open: every other GPU's.</summary>
    public static IReadOnlyList<DeviceNumber> Denied(IReadOnlyDictionary<int, DeviceNumber> gpus, IReadOnlyList<Core.Scheduling.GresDevice> held)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        ArgumentNullException.ThrowIfNull(held);
        var own = held.Where(d => d.Name == Core.Scheduling.GresDevice.Gpu).Select(d => d.Index).ToHashSet();
        var ownNumbers = own.Where(gpus.ContainsKey).Select(i => gpus[i]).ToHashSet();

        // Two indices may share a file (a misconfiguration); a GPU the job holds stays open to it.
        return [.. gpus.Where(g => !own.Contains(g.Key) && !ownNumbers.Contains(g.Value)).Select(g => g.Value).Distinct()];
    }
}
