using Conductor.Core.Jobs;
using Conductor.Core.Storage;
using Conductor.Server.Jobs;
using Conductor.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Conductor.EndToEnd.Tests;

/// <summary>Retention on a real SQLite file: ended jobs older than the age go, with their events; the rest stays.</summary>
public sealed class RetentionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "conductor-retention-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task PurgeNow_DeletesJobsThatEndedBeforeTheRetentionAge()
    {
        Directory.CreateDirectory(_dir);
        using var store = new SqliteStore(new SqliteStoreOptions { DatabasePath = Path.Combine(_dir, "db") });
        await store.MigrateAsync();
        var now = DateTimeOffset.UtcNow;
        var spec = new JobSpec { Name = "old", Account = "a", Partition = "default", WorkDir = "/tmp" };
        var old = await store.SubmitAsync(new NewJob(spec, "true", now.AddDays(-40)), CancellationToken.None);
        var recent = await store.SubmitAsync(new NewJob(spec, "true", now.AddDays(-2)), CancellationToken.None);
        var pending = await store.SubmitAsync(new NewJob(spec, "true", now.AddDays(-90)), CancellationToken.None);
        await store.CancelAsync(old, now.AddDays(-39), "test", CancellationToken.None);
        await store.CancelAsync(recent, now.AddDays(-1), "test", CancellationToken.None);
        var retention = new RetentionService(store, TimeProvider.System,
            Options.Create(new RetentionOptions { MaxAge = TimeSpan.FromDays(30), BatchSize = 1 }), NullLogger<RetentionService>.Instance);

        await retention.PurgeNowAsync(CancellationToken.None);

        Assert.Equal(1, retention.Purged);
        Assert.Null(await store.GetAsync(old, CancellationToken.None));
        Assert.Empty(await store.GetEventsAsync(old, CancellationToken.None));
        Assert.NotNull(await store.GetAsync(recent, CancellationToken.None));
        Assert.NotNull(await store.GetAsync(pending, CancellationToken.None));
    }
}
