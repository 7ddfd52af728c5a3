using System.Net.Sockets;
using Npgsql;

namespace Conductor.Cli.Commands;

/// <summary>Turns a failure to reach or use the PostgreSQL database of <c>--db</c> into one sentence.</summary>
internal static class DatabaseErrors
{
    public static bool IsUnreachable(Exception error) => Find(error) is not null;

    public static string Describe(Exception error)
    {
        var cause = Find(error) ?? error;
        var message = cause is PostgresException pg ? pg.MessageText : cause.Message;
        if (cause.InnerException is SocketException socket)
        {
            message = $"{message.TrimEnd('.')}: {socket.Message}";
        }

        return message.Trim().TrimEnd('.') + ".";
    }

    /// <summary>The database and server a connection string names, without its credentials.</summary>
    public static string DatabaseName(string connectionString)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            return $"{builder.Database ?? builder.Username ?? "(default)"} on {builder.Host}:{builder.Port}";
        }
        catch (ArgumentException)
        {
            return "(unnamed)";
        }
    }

    private static Exception? Find(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is AggregateException aggregate && aggregate.InnerExceptions.Count > 0)
            {
                return Find(aggregate.InnerExceptions[0]);
            }

            if (e is PostgresException or NpgsqlException or SocketException or TimeoutException)
            {
                return e;
            }

            if (e is InvalidOperationException && e.Message.Contains("schema version", StringComparison.Ordinal))
            {
                return e;
            }
        }

        return null;
    }
}
