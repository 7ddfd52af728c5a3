using System.Globalization;
using Npgsql;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Conductor.Storage.Tests;

/// <summary>
/// The PostgreSQL server of the tests, named by <c>CONDUCTOR_TEST_POSTGRES</c>: an Npgsql connection string to a
/// maintenance database whose user may create databases (run-tests starts a throwaway server and sets it).
/// Each test gets a database of its own, created empty and dropped afterwards.
/// </summary>
internal static class PostgresTestServer
{
    public const string Variable = "CONDUCTOR_TEST_POSTGRES";

    private static readonly Lazy<NpgsqlDataSource?> Maintenance = new(() =>
        ConnectionString is { } cs ? NpgsqlDataSource.Create(cs) : null);

    public static string? ConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    /// <summary>Why the PostgreSQL tests are skipped, or null when they run.</summary>
    public static string? SkipReason =>
        ConnectionString is null ? $"PostgreSQL tests did not run: {Variable} is not set" : null;

    /// <summary>Creates an empty database and returns its name and a connection string to it.</summary>
    public static async Task<(string Name, string ConnectionString)> CreateDatabaseAsync()
    {
        var maintenance = Maintenance.Value ?? throw new InvalidOperationException(SkipReason);
        var name = "conductor_test_" + Guid.NewGuid().ToString("N");
        await using (var connection = await maintenance.OpenConnectionAsync())
        {
            // FILE_COPY (PostgreSQL 15+) copies the tiny template's files instead of WAL-logging every block.
            var strategy = connection.PostgreSqlVersion.Major >= 15 ? " STRATEGY = FILE_COPY" : "";
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'{strategy};", connection);
            await create.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name };
        return (name, builder.ConnectionString);
    }

    public static async Task DropDatabaseAsync(string name)
    {
        var maintenance = Maintenance.Value ?? throw new InvalidOperationException(SkipReason);
        await using var connection = await maintenance.OpenConnectionAsync();
        await using var drop = new NpgsqlCommand(
            string.Create(CultureInfo.InvariantCulture, $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);"), connection);
        await drop.ExecuteNonQueryAsync();
    }
}

/// <summary>A fact that needs PostgreSQL: reported as skipped, with the reason, when no server is configured.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresTestServer.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Marks a test class whose tests, inherited ones included, all need PostgreSQL.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>
/// The fact of the store contract: it runs in every backend's class, and is reported as skipped, with the
/// reason, in a class marked <see cref="RequiresPostgresAttribute"/> when no PostgreSQL server is configured.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Conductor.Storage.Tests.StoreFactDiscoverer", "Conductor.Storage.Tests")]
public sealed class StoreFactAttribute : FactAttribute;

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    private readonly FactDiscoverer _facts = new(diagnosticMessageSink);

    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        ArgumentNullException.ThrowIfNull(discoveryOptions);
        ArgumentNullException.ThrowIfNull(testMethod);
        if (PostgresTestServer.SkipReason is { } reason && testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute)).Any())
        {
            return
            [
                new XunitSkippedDataRowTestCase(
                    diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, reason),
            ];
        }

        return _facts.Discover(discoveryOptions, testMethod, factAttribute);
    }
}
