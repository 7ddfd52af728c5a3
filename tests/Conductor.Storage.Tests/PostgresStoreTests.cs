using System.Diagnostics;
using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;
using Conductor.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Xunit.Abstractions;

namespace Conductor.Storage.Tests;

/// <summary>The store contract on a real PostgreSQL server, each test in a database of its own, plus what is particular to PostgreSQL.</summary>
[RequiresPostgres]
public sealed class PostgresStoreTests(ITestOutputHelper output) : StoreContractTests
{
    private readonly List<PostgresStore> _stores = [];
    private string? _database;
    private string? _connectionString;

    private string ConnectionString => _connectionString ?? throw new InvalidOperationException("The database is created in InitializeAsync.");

    protected override async Task<StoreUnderTest> CreateStoreAsync()
    {
        (_database, _connectionString) = await PostgresTestServer.CreateDatabaseAsync();
        var store = await OpenStoreAsync();
        return new StoreUnderTest(store, store, store, store);
    }

    public override async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        if (_database is not null)
        {
            await PostgresTestServer.DropDatabaseAsync(_database);
        }

        await base.DisposeAsync();
    }

    private async Task<PostgresStore> OpenStoreAsync()
    {
        var store = NewStore();
        await store.MigrateAsync(Ct);
        return store;
    }

    private PostgresStore NewStore()
    {
        var store = new PostgresStore(new PostgresStoreOptions { ConnectionString = ConnectionString });
        _stores.Add(store);
        return store;
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    [PostgresFact]
    public async Task MigrateAsync_IsIdempotent_WhenSameDatabaseOpenedTwice()
    {
        var id = await SubmitAsync();

        var second = await OpenStoreAsync();
        await second.MigrateAsync(Ct);
        var third = NewStore();

        Assert.Equal(id, (await third.GetAsync(id, Ct))?.Id);
        Assert.Equal(new JobId(id.Value + 1), await second.SubmitAsync(new NewJob(Spec(), "x", T0), Ct));
        Assert.Equal(PostgresStore.SchemaVersion, await ScalarAsync("SELECT MAX(version) FROM schema_version;"));
        Assert.Equal(PostgresStore.SchemaVersion, await ScalarAsync("SELECT COUNT(*) FROM schema_version;"));
    }

    [PostgresFact]
    public async Task MigrateAsync_MigratesExactlyOnce_WhenSeveralStoresStartOnAnEmptyDatabaseAtOnce()
    {
        var (name, connectionString) = await PostgresTestServer.CreateDatabaseAsync();
        try
        {
            var stores = Enumerable.Range(0, 6).Select(_ => new PostgresStore(new PostgresStoreOptions { ConnectionString = connectionString })).ToList();
            _stores.AddRange(stores);

            await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(Ct))));

            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM schema_version;", connection);
            Assert.Equal((long)PostgresStore.SchemaVersion, await command.ExecuteScalarAsync());
            Assert.Equal(new JobId(1), await stores[3].SubmitAsync(new NewJob(Spec(), "x", T0), Ct));
        }
        finally
        {
            foreach (var store in _stores.Skip(1))
            {
                await store.DisposeAsync();
            }

            _stores.RemoveRange(1, _stores.Count - 1);
            await PostgresTestServer.DropDatabaseAsync(name);
        }
    }

    [PostgresFact]
    public async Task MigrateAsync_RefusesDatabase_WhenSchemaIsNewer()
    {
        await ExecuteAsync("INSERT INTO schema_version (version) VALUES (9999);");

        var store = NewStore();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.MigrateAsync(Ct));
        Assert.Contains("9999", error.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task Schema_StoresEnvironmentAndArgumentsAsJsonb_WhenJobSubmitted()
    {
        var id = await SubmitAsync(Spec() with { Environment = new Dictionary<string, string> { ["A"] = "1" }, Arguments = ["x"] });

        Assert.Equal(1, await ScalarAsync($"SELECT COUNT(*) FROM jobs WHERE id = {id.Value} AND environment ->> 'A' = '1' AND arguments ->> 0 = 'x';"));
        Assert.Equal(1, await ScalarAsync($"SELECT COUNT(*) FROM job_scripts WHERE job_id = {id.Value};"));
    }

    [PostgresFact]
    public async Task Allocations_RejectSecondRowForSameJob_WhenInsertedDirectly()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync();
        await StartAsync(id, Node1, [0]);

        var error = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(
            "INSERT INTO allocations (job_id, node, cores, cpus, memory_mib, exclusive, attempt, created_time) VALUES (@id, 'node1', '1', 1, 0, false, 1, 0);",
            ("id", id.Value)));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
    }

    [PostgresFact]
    public async Task CommitAsync_RollsBackWholePlan_WhenNodeIsUnknown()
    {
        await RegisterAsync(Node1);
        var good = await SubmitAsync();
        var bad = await SubmitAsync();

        var error = await Assert.ThrowsAsync<PostgresException>(() => Scheduler.CommitAsync(
            new SchedulingPlan([new JobStart(good, Node1, [0], 0), new JobStart(bad, new("nowhere"), [0], 0)], []), T0, Ct));

        Assert.Equal(PostgresErrorCodes.ForeignKeyViolation, error.SqlState);
        Assert.Equal(JobState.Pending, (await GetAsync(good)).State);
        Assert.Equal(JobState.Pending, (await GetAsync(bad)).State);
        Assert.Equal(0, (await NodeAsync(Node1)).RunningJobs);
    }

    [PostgresFact]
    public async Task CommitAsync_StartsEachJobOnce_WhenTwoSchedulersCommitOverlappingPlansAtOnce()
    {
        const int Many = 2_000;
        await RegisterAsync(Node1, cpus: Many);
        await InsertPendingAsync(Many);
        var first = await OpenStoreAsync();
        var second = await OpenStoreAsync();
        var snapshot = await first.LoadSnapshotAsync(Ct);
        var starts = snapshot.Pending.Select(p => new JobStart(p.Id, Node1, [(int)p.Id.Value - 1], 1)).ToList();
        var reversed = Enumerable.Reverse(starts).ToList();
        var reasons = snapshot.Pending.Select(p => new ReasonChange(p.Id, PendingReasons.Priority)).ToList();

        var watch = Stopwatch.StartNew();
        var wins = await Task.WhenAll(
            Task.Run(() => first.CommitAsync(new SchedulingPlan(starts, reasons), T0, Ct)),
            Task.Run(() => second.CommitAsync(new SchedulingPlan(reversed, reasons), T0, Ct)));
        output.WriteLine($"Two racing commits of {Many} starts each: {watch.ElapsedMilliseconds} ms");

        Assert.Equal(Many, wins.Sum(w => w.Count));
        Assert.Equal(Many, await ScalarAsync("SELECT COUNT(*) FROM allocations;"));
        Assert.Equal(Many, await ScalarAsync("SELECT COUNT(*) FROM jobs WHERE state = 'RUNNING' AND attempt = 1 AND reason IS NULL;"));
        Assert.Equal(Many, await ScalarAsync("SELECT COUNT(*) FROM job_events WHERE kind = 'scheduled';"));
        Assert.Equal(Many, (await NodeAsync(Node1)).AllocatedCpus);
    }

    [PostgresFact]
    public async Task LoadSnapshotAsync_KeepsAPendingSetCurrent_WhenAnEarlierTransactionCommitsAfterALaterOne()
    {
        var early = await SubmitAsync(Spec(name: "early"));
        var set = new PendingSet();
        await AssertPendingSetCurrentAsync(set);

        // This transaction writes first (its change takes the smaller sequence number) and commits last.
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand($"UPDATE jobs SET hold = true, reason = 'JobHeldUser' WHERE id = {early.Value};", connection, tx))
        {
            await hold.ExecuteNonQueryAsync();
        }

        var late = await SubmitAsync(Spec(name: "late"));
        var snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.Contains(snapshot.Pending, j => j.Id == late);
        Assert.False(snapshot.Pending.Single(j => j.Id == early).Held);

        await tx.CommitAsync();

        snapshot = await AssertPendingSetCurrentAsync(set);
        Assert.True(snapshot.Pending.Single(j => j.Id == early).Held);
    }

    [PostgresFact]
    public async Task LoadSnapshotAsync_ReturnsAllPendingJobs_WhenHundredThousandAreQueued()
    {
        const int Many = 100_000;
        await InsertPendingAsync(Many);
        await ExecuteAsync("INSERT INTO jobs (state, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, work_dir, stdout_pattern, environment, arguments, exclusive, requeue, max_retries, nice, hold, priority, submit_time, eligible_time) SELECT 'COMPLETED', 'j', 'a', 'batch', 1, 1, 1, '/w', 'o', '{}', '[]', false, false, 0, 0, false, 0, i, i FROM generate_series(1, 50000) AS i;");
        await ExecuteAsync("VACUUM ANALYZE jobs;");

        await Scheduler.LoadSnapshotAsync(Ct);
        var watch = Stopwatch.StartNew();
        var snapshot = await Scheduler.LoadSnapshotAsync(Ct);
        output.WriteLine($"LoadSnapshotAsync with {Many} pending jobs: {watch.ElapsedMilliseconds} ms");

        Assert.Equal(Many, snapshot.Pending.Count);
        Assert.Equal(Many, snapshot.Pending.Select(p => p.Id).Distinct().Count());
    }

    [PostgresFact]
    public async Task AddConductorPostgresStorage_RegistersOneStoreForAllInterfaces_WhenResolved()
    {
        var services = new ServiceCollection();
        services.AddConductorPostgresStorage(ConnectionString);
        await using var provider = services.BuildServiceProvider();

        var store = provider.GetRequiredService<PostgresStore>();

        Assert.Same(store, provider.GetRequiredService<IJobStore>());
        Assert.Same(store, provider.GetRequiredService<INodeStore>());
        Assert.Same(store, provider.GetRequiredService<ISchedulerStore>());
        Assert.Same(store, provider.GetRequiredService<IAgentStore>());
        Assert.Equal(new JobId(1), await store.SubmitAsync(new NewJob(Spec(), "x", T0), Ct));
    }

    [PostgresFact]
    public async Task AddConductorPostgresStorage_MigratesAtHostStart_WhenHostedServiceRuns()
    {
        var (name, connectionString) = await PostgresTestServer.CreateDatabaseAsync();
        try
        {
            var services = new ServiceCollection();
            services.AddConductorPostgresStorage(connectionString);
            await using (var provider = services.BuildServiceProvider())
            {
                foreach (var hosted in provider.GetServices<IHostedService>())
                {
                    await hosted.StartAsync(Ct);
                }
            }

            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT MAX(version) FROM schema_version;", connection);
            Assert.Equal(PostgresStore.SchemaVersion, await command.ExecuteScalarAsync());
        }
        finally
        {
            await PostgresTestServer.DropDatabaseAsync(name);
        }
    }

    [PostgresFact]
    public async Task MarkNodesDownAsync_GoesAhead_WhenAFrozenProcessHoldsARowOfItsJobsInAnOpenTransaction()
    {
        await RegisterAsync(Node1);
        var id = await SubmitAsync(Spec() with { Requeue = true });
        await StartAsync(id, Node1, [0]);

        // A process of the cluster (an agent stopped by SIGSTOP, say) froze in the middle of a write to the job.
        using var frozen = new PostgresDialect(new PostgresStoreOptions { ConnectionString = ConnectionString, IdleTransactionTimeout = TimeSpan.FromSeconds(1) });
        await using var connection = await frozen.OpenAsync(Ct);
        var tx = await frozen.BeginWriteAsync(connection, Ct);
        await using (var hold = connection.CreateCommand())
        {
            hold.Transaction = tx;
            hold.CommandText = $"SELECT 1 FROM jobs WHERE id = {id.Value} FOR UPDATE;";
            await hold.ExecuteNonQueryAsync(Ct);
        }

        var watch = Stopwatch.StartNew();
        var down = await Nodes.MarkNodesDownAsync(T0.AddSeconds(30), T0.AddSeconds(60), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        output.WriteLine($"The watchdog's write waited {watch.ElapsedMilliseconds} ms for the frozen session to be ended");

        Assert.Equal([id], Assert.Single(down).Requeued);
        Assert.Equal(JobState.Pending, (await GetAsync(id)).State);

        // When the process wakes, its transaction is gone: nothing of it is written.
        var error = await Assert.ThrowsAsync<PostgresException>(() => tx.CommitAsync(Ct));
        Assert.Equal("25P03", error.SqlState);
    }

    private Task InsertPendingAsync(int count) => ExecuteAsync($"""
        INSERT INTO jobs (state, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, work_dir,
                          stdout_pattern, environment, arguments, exclusive, requeue, max_retries, nice, hold,
                          priority, submit_time, eligible_time)
        SELECT 'PENDING', 'j', 'a', 'batch', 1, 1, 1, '/w', 'o', '{"{}"}', '[]', false, false, 0, 0, false, 0, i, i
        FROM generate_series(1, {count}) AS i;
        """);
}

/// <summary>What needs no server: the connection string is checked up front, with a one-sentence error.</summary>
public sealed class PostgresConnectionStringTests
{
    [Theory]
    [InlineData("Host=db;Port=notanumber")]
    [InlineData("Hots=db;Database=x")]
    [InlineData("not a connection string")]
    [InlineData("")]
    [InlineData("Database=conductor")]
    public void AddConductorPostgresStorage_ThrowsOneSentence_WhenConnectionStringIsNotValid(string connectionString)
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddConductorPostgresStorage(connectionString));

        Assert.StartsWith("The PostgreSQL connection string ", error.Message, StringComparison.Ordinal);
        Assert.EndsWith(".", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddConductorPostgresWakeBus_Throws_WhenStorageIsNotRegistered()
    {
        Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddConductorPostgresWakeBus());
    }
}
