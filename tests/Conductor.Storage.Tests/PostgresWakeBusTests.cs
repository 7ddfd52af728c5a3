using Conductor.Core.Nodes;
using Conductor.Core.Signals;
using Conductor.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Conductor.Storage.Tests;

/// <summary>The LISTEN/NOTIFY wake bus between two processes, played by two bus instances on one database.</summary>
public sealed class PostgresWakeBusTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly List<PostgresWakeBus> _buses = [];
    private string? _database;
    private string? _connectionString;

    public async Task InitializeAsync()
    {
        if (PostgresTestServer.SkipReason is null)
        {
            (_database, _connectionString) = await PostgresTestServer.CreateDatabaseAsync();
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var bus in _buses)
        {
            await bus.DisposeAsync();
        }

        if (_database is not null)
        {
            await PostgresTestServer.DropDatabaseAsync(_database);
        }
    }

    private async Task<PostgresWakeBus> StartBusAsync()
    {
        var bus = new PostgresWakeBus(new PostgresStoreOptions { ConnectionString = _connectionString! });
        _buses.Add(bus);
        await bus.StartAsync(CancellationToken.None);
        await bus.Listening.WaitAsync(Deadline);
        return bus;
    }

    [PostgresFact]
    public async Task Publish_WakesSubscriberOfOtherBus_WhenBothShareTheDatabase()
    {
        var publisher = await StartBusAsync();
        var listener = await StartBusAsync();
        var scheduler = listener.Subscribe(WakeTopic.Scheduler);
        var node = listener.Subscribe(WakeTopic.Node(new NodeName("node7")));

        publisher.Publish(WakeTopic.Node(new NodeName("node7")));

        Assert.True(await node.WaitAsync(Deadline, TimeProvider.System, CancellationToken.None));
        Assert.False(await scheduler.WaitAsync(TimeSpan.FromMilliseconds(300), TimeProvider.System, CancellationToken.None));
    }

    [PostgresFact]
    public async Task Listener_ReconnectsAndWakesAgain_WhenItsConnectionIsKilled()
    {
        var publisher = await StartBusAsync();
        var listener = await StartBusAsync();
        var signal = listener.Subscribe(WakeTopic.Scheduler);
        var before = await ListenerPidsAsync();

        await using (var connection = new NpgsqlConnection(_connectionString))
        {
            await connection.OpenAsync();
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%';", connection);
            await kill.ExecuteNonQueryAsync();
        }

        // Both listeners come back on new connections; the reconnect itself wakes every subscriber once.
        await Poll.UntilAsync(ListenerPidsAsync, pids => pids.Except(before).Count() >= 2, Deadline, "the listeners to reconnect");

        Assert.True(await signal.WaitAsync(Deadline, TimeProvider.System, CancellationToken.None));
        publisher.Publish(WakeTopic.Scheduler);
        Assert.True(await signal.WaitAsync(Deadline, TimeProvider.System, CancellationToken.None));
    }

    private async Task<List<int>> ListenerPidsAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%';", connection);
        var pids = new List<int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            pids.Add(reader.GetInt32(0));
        }

        return pids;
    }

    [PostgresFact]
    public async Task Publish_WakesLocalSubscriberAtOnce_WhenListenerIsNotStarted()
    {
        var bus = new PostgresWakeBus(new PostgresStoreOptions { ConnectionString = _connectionString! });
        _buses.Add(bus);
        var signal = bus.Subscribe(WakeTopic.Scheduler);

        bus.Publish(WakeTopic.Scheduler);

        Assert.True(await signal.WaitAsync(TimeSpan.Zero, TimeProvider.System, CancellationToken.None));
    }

    [PostgresFact]
    public async Task AddConductorPostgresWakeBus_RunsListenerWithHost_WhenRegisteredAfterStorage()
    {
        var services = new ServiceCollection();
        services.AddConductorPostgresStorage(_connectionString!);
        services.AddConductorPostgresWakeBus();
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<PostgresWakeBus>();
        Assert.Same(bus, provider.GetRequiredService<IWakeBus>());
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }

        await bus.Listening.WaitAsync(Deadline);
        var other = await StartBusAsync();
        var signal = bus.Subscribe(WakeTopic.Scheduler);

        other.Publish(WakeTopic.Scheduler);

        Assert.True(await signal.WaitAsync(Deadline, TimeProvider.System, CancellationToken.None));
        foreach (var service in hosted)
        {
            await service.StopAsync(CancellationToken.None);
        }
    }
}
