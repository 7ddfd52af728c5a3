using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;
using Conductor.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Conductor.Storage.Tests;

/// <summary>The store contract on a real SQLite file, plus what is particular to SQLite.</summary>
public sealed class SqliteStoreTests : StoreContractTests, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "conductor-storage-tests", Guid.NewGuid().ToString("N"));
    private readonly List<SqliteStore> _stores = [];

    private string DatabasePath => Path.Combine(_directory, "conductor.db");

    protected override async Task<StoreUnderTest> CreateStoreAsync()
    {
        var store = await OpenStoreAsync();
        return new StoreUnderTest(store, store, store, store);
    }

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private async Task<SqliteStore> OpenStoreAsync()
    {
        var store = new SqliteStore(new SqliteStoreOptions { DatabasePath = DatabasePath });
        _stores.Add(store);
        await store.MigrateAsync(Ct);
        return store;
    }

    private SqliteConnection OpenRaw()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task MigrateAsync_IsIdempotent_WhenSameFileOpenedTwice()
    {
        var id = await SubmitAsync();

        var second = await OpenStoreAsync();
        await second.MigrateAsync(Ct);
        var third = new SqliteStore(new SqliteStoreOptions { DatabasePath = DatabasePath });
        _stores.Add(third);

        Assert.Equal(id, (await third.GetAsync(id, Ct))?.Id);
        Assert.Equal(new JobId(id.Value + 1), await second.SubmitAsync(new NewJob(Spec(), "x", T0), Ct));
        using var connection = OpenRaw();
        Assert.Equal(SqliteStore.SchemaVersion, Scalar(connection, "SELECT MAX(version) FROM schema_version;"));
        Assert.Equal(SqliteStore.SchemaVersion, Scalar(connection, "SELECT COUNT(*) FROM schema_version;"));
    }

    [Fact]
    public async Task MigrateAsync_RunsInParallel_WhenSeveralStoresStartOnOneFile()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => new SqliteStore(new SqliteStoreOptions { DatabasePath = DatabasePath })).ToList();
        _stores.AddRange(stores);

        await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(Ct))));

        using var connection = OpenRaw();
        Assert.Equal(SqliteStore.SchemaVersion, Scalar(connection, "SELECT COUNT(*) FROM schema_version;"));
    }

    [Fact]
    public async Task MigrateAsync_RefusesDatabase_WhenSchemaIsNewer()
    {
        using (var connection = OpenRaw())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "INSERT INTO schema_version (version) VALUES (9999);";
            command.ExecuteNonQuery();
        }

        var store = new SqliteStore(new SqliteStoreOptions { DatabasePath = DatabasePath });
        _stores.Add(store);

        await Assert.ThrowsAsync<InvalidOperationException>(() => store.MigrateAsync(Ct));
    }

    [Fact]
    public async Task MigrateAsync_UsesWriteAheadLog_WhenDatabaseCreated()
    {
        await SubmitAsync();

        using var connection = OpenRaw();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar() as string);
    }

    [Fact]
    public async Task Allocations_RejectSecondRowForSameJob_WhenInsertedDirectly()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        using var connection = OpenRaw();
        using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time) VALUES (@id, 'node1', '1', 1, 0, 0, 1, 0);";
        command.Parameters.AddWithValue("@id", id.Value);

        var error = Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
        Assert.Equal(19, error.SqliteErrorCode); // SQLITE_CONSTRAINT
    }

    [Fact]
    public async Task CommitAsync_RollsBackWholePlan_WhenNodeIsUnknown()
    {
        await RegisterAsync(Node1);
        var good = await SubmitAsync();
        var bad = await SubmitAsync();

        await Assert.ThrowsAsync<SqliteException>(() => Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(good, Node1, [0], 0), new JobStart(bad, new("nowhere"), [0], 0)], []), T0, Ct));

        Assert.Equal(JobState.Pending, (await GetAsync(good)).State);
        Assert.Equal(JobState.Pending, (await GetAsync(bad)).State);
        Assert.Equal(0, (await NodeAsync(Node1)).RunningJobs);
    }

    [Fact]
    public async Task LoadSnapshotAsync_ReturnsAllPendingJobs_WhenManyAreQueued()
    {
        const int Many = 20_000;
        using (var connection = OpenRaw())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"""
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {Many})
                INSERT INTO jobs (state, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, work_dir,
                                  stdout_pattern, environment, arguments, exclusive, requeue, max_retries, nice, hold,
                                  priority, submit_time, eligible_time)
                SELECT 'PENDING', 'j', 'a', 'batch', 1, 1, 1, '/w', 'o', '{"{}"}', '[]', 0, 0, 0, 0, 0, 0, i, i FROM n;
                """;
            command.ExecuteNonQuery();
        }

        var snapshot = await Scheduler.LoadSnapshotAsync(Ct);

        Assert.Equal(Many, snapshot.Pending.Count);
    }

    [Fact]
    public async Task AddConductorSqliteStorage_RegistersOneStoreForAllInterfaces_WhenResolved()
    {
        var services = new ServiceCollection();
        services.AddConductorSqliteStorage(DatabasePath);
        await using var provider = services.BuildServiceProvider();

        var store = provider.GetRequiredService<SqliteStore>();

        Assert.Same(store, provider.GetRequiredService<IJobStore>());
        Assert.Same(store, provider.GetRequiredService<INodeStore>());
        Assert.Same(store, provider.GetRequiredService<ISchedulerStore>());
        Assert.Same(store, provider.GetRequiredService<IAgentStore>());
        Assert.Equal(new JobId(1), await store.SubmitAsync(new NewJob(Spec(), "x", T0), Ct));
    }

    [Fact]
    public async Task AddConductorSqliteStorage_MigratesAtHostStart_WhenHostedServiceRuns()
    {
        var path = Path.Combine(_directory, "hosted", "conductor.db");
        var services = new ServiceCollection();
        services.AddConductorSqliteStorage(path);
        await using var provider = services.BuildServiceProvider();

        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(Ct);
        }

        Assert.True(File.Exists(path));
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        Assert.Equal(SqliteStore.SchemaVersion, Scalar(connection, "SELECT MAX(version) FROM schema_version;"));
    }
}
