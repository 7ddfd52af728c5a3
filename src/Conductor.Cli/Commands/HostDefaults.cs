namespace Conductor.Cli.Commands;

/// <summary>What the long-running commands (server, agent) set up the same way.</summary>
public static class HostDefaults
{
    /// <summary>One line per message with a timestamp, on the console.</summary>
    public static ILoggingBuilder AddConductorConsole(this ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss ";
        });
        return logging;
    }

    /// <summary>Creates the data directory (owner only); null when it is usable, else the sentence that says why not.</summary>
    public static string? CreateDataDirectory(string dataDirectory)
    {
        try
        {
            Directory.CreateDirectory(dataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot use the data directory {dataDirectory}: {e.Message}";
        }
    }
}
