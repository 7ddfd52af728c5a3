using Npgsql;

namespace Conductor.Storage.Postgres;

/// <summary>Where the PostgreSQL store keeps its data.</summary>
public sealed class PostgresStoreOptions
{
    /// <summary>An Npgsql connection string, e.g. <c>Host=db;Database=conductor;Username=conductor</c>.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// How long the server lets one of the store's sessions sit idle inside a transaction before it ends the session
    /// and so releases its row locks. The store's transactions take milliseconds; one idle this long belongs to a
    /// frozen or stopped process, whose locks would otherwise keep others (the node watchdog above all) waiting.
    /// </summary>
    public TimeSpan IdleTransactionTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Parses <paramref name="connectionString"/>, or throws an <see cref="ArgumentException"/> whose message is one sentence.</summary>
    internal static NpgsqlConnectionStringBuilder Parse(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ArgumentException("The PostgreSQL connection string is empty.");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception error) when (error is ArgumentException or FormatException or KeyNotFoundException or InvalidCastException or OverflowException)
        {
            var detail = error is ArgumentException { ParamName: { } name }
                ? error.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)
                : error.Message;
            throw new ArgumentException($"The PostgreSQL connection string is not valid: {detail.TrimEnd('.')}.", error);
        }

        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            throw new ArgumentException("The PostgreSQL connection string names no server (Host=...).");
        }

        return builder;
    }
}
