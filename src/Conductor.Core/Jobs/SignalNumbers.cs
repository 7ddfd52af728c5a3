using System.Globalization;

namespace Conductor.Core.Jobs;

/// <summary>Signal names and numbers as scancel --signal takes them: <c>USR1</c>, <c>SIGUSR1</c> or <c>10</c>.</summary>
public static class SignalNumbers
{
    /// <summary>Linux's signal names without "SIG", by number (1 to 31).</summary>
    private static readonly string[] Names =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
        "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];

    /// <summary>The highest signal number Linux has (SIGRTMAX).</summary>
    public const int Max = 64;

    public static bool TryParse(string? text, out int signal)
    {
        signal = 0;
        var s = text?.Trim() ?? "";
        if (int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            signal = number;
            return number is >= 1 and <= Max;
        }

        if (s.StartsWith("SIG", StringComparison.OrdinalIgnoreCase))
        {
            s = s[3..];
        }

        signal = Array.FindIndex(Names, n => n.Length > 0 && n.Equals(s, StringComparison.OrdinalIgnoreCase));
        return signal > 0;
    }
}
