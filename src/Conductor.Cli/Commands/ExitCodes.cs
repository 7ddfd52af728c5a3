namespace Conductor.Cli.Commands;

/// <summary>The CLI's exit codes.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Usage = 1;
    public const int NotFound = 2;
    public const int Unreachable = 3;

    /// <summary>Prints one sentence on stderr and returns the code.</summary>
    public static int Fail(int code, string sentence)
    {
        Console.Error.WriteLine("conductor: " + sentence.TrimEnd());
        return code;
    }
}
