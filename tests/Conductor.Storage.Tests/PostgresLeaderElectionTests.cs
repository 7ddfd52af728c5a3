using Conductor.Storage.Postgres;

namespace Conductor.Storage.Tests;

/// <summary>The scheduler role among servers sharing a database, played by two election instances on one database.</summary>
public sealed class PostgresLeaderElectionTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly List<PostgresLeaderElection> _elections = [];
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
        foreach (var election in _elections)
        {
            await StopAsync(election);
        }

        if (_database is not null)
        {
            await PostgresTestServer.DropDatabaseAsync(_database);
        }
    }

    private async Task<PostgresLeaderElection> StartAsync()
    {
        var election = new PostgresLeaderElection(new PostgresStoreOptions { ConnectionString = _connectionString! })
        {
            CheckInterval = TimeSpan.FromMilliseconds(200),
        };
        _elections.Add(election);
        await election.StartAsync(CancellationToken.None);
        return election;
    }

    private static async Task StopAsync(PostgresLeaderElection election)
    {
        await election.StopAsync(CancellationToken.None);
        election.Dispose();
    }

    [PostgresFact]
    public async Task OnlyOneLeads_AndTheOtherTakesOver_WhenTheLeaderStops()
    {
        var first = await StartAsync();
        await first.WaitForLeadershipAsync(CancellationToken.None).WaitAsync(Deadline);
        var second = await StartAsync();

        // The second has tried, more than once, and found the role taken.
        await Poll.UntilAsync(() => second.LostAttempts >= 3, Deadline, "the second instance to try for the role");
        Assert.True(first.IsLeader);
        Assert.False(second.IsLeader);
        var takeover = second.WaitForLeadershipAsync(CancellationToken.None);
        Assert.False(takeover.IsCompleted);

        _elections.Remove(first);
        await StopAsync(first);

        await takeover.WaitAsync(Deadline);
        Assert.True(second.IsLeader);
        Assert.False(first.IsLeader);
    }
}
