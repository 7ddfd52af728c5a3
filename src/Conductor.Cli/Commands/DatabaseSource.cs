using System.CommandLine;
using System.Data.Common;

namespace Conductor.Cli.Commands;

/// <summary>
/// Where a cluster's PostgreSQL connection string comes from, without a secret on the command line (which every local
/// user reads in ps): <c>--db</c> without a password (the password then comes from <c>PGPASSFILE</c> or
/// <c>~/.pgpass</c>, which Npgsql reads), <c>--db-file</c> naming a file that holds the string, or the
/// <c>CONDUCTOR_DB</c> environment variable.
/// </summary>
public static class DatabaseSource
{
    public const string Variable = "CONDUCTOR_DB";

    public static Option<string?> FileOption() => new("--db-file")
    {
        Description = $"A file holding the PostgreSQL connection string (it may hold the password; keep it mode 0600). Or set {Variable}, or keep the password in PGPASSFILE.",
        HelpName = "FILE",
    };

    /// <summary>The connection string (null when none is given), or the sentence that says what is wrong.</summary>
    public static (string? ConnectionString, string? Error) Resolve(string? db, string? dbFile)
    {
        if (db is not null && dbFile is not null)
        {
            return (null, "give the connection string once: --db or --db-file.");
        }

        if (db is not null)
        {
            return HasPassword(db)
                ? (null, $"--db must not carry a password, which every local user can read in ps; put the connection string in a file given with --db-file, or in {Variable}, or the password in PGPASSFILE.")
                : (db, null);
        }

        if (dbFile is not null)
        {
            try
            {
                var text = File.ReadAllText(dbFile).Trim();
                return text.Length == 0 ? (null, $"--db-file {dbFile} is empty; it should hold the connection string.") : (text, null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, $"cannot read --db-file {dbFile}: {e.Message}");
            }
        }

        return (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } fromEnvironment ? fromEnvironment.Trim() : null, null);
    }

    private static bool HasPassword(string connectionString)
    {
        try
        {
            var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
            return builder.ContainsKey("Password") || builder.ContainsKey("Pwd");
        }
        catch (ArgumentException)
        {
            return connectionString.Contains("password", StringComparison.OrdinalIgnoreCase);
        }
    }
}
