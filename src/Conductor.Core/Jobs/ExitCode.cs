using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>
/// A job's exit status as Slurm shows it, <c>code:signal</c>: <c>0:0</c> success, <c>3:0</c> exit 3,
/// <c>0:9</c> killed by SIGKILL.
/// </summary>
public readonly record struct ExitCode(int Code, int Signal)
{
    public static ExitCode Success { get; } = new(0, 0);

    public bool IsSuccess => Code == 0 && Signal == 0;

    public static ExitCode Exited(int code) => new(code, 0);

    public static ExitCode Killed(int signal) => new(0, signal);

    /// <summary>Decodes a raw wait(2) status word.</summary>
    public static ExitCode FromWaitStatus(int status)
    {
        var signal = status & 0x7f;
        return signal == 0 ? Exited((status >> 8) & 0xff) : Killed(signal);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Code}:{Signal}");

    public static bool TryParse(string? text, out ExitCode exitCode)
    {
        exitCode = default;
        if (text is null)
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 ||
            !int.TryParse(text.AsSpan(0, colon), NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ||
            !int.TryParse(text.AsSpan(colon + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var signal))
        {
            return false;
        }

        exitCode = new ExitCode(code, signal);
        return true;
    }
}
