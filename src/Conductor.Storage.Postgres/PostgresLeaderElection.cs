using Conductor.Core.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

/// <summary>
/// Elects the one scheduler among the servers that share a database with a session-level PostgreSQL advisory
/// lock, held on a dedicated connection: while not the leader it tries <c>pg_try_advisory_lock</c> every
/// <see cref="CheckInterval"/>; while the leader it checks the connection as often and gives the role up at once
/// when the check fails. The database releases the lock when the leader's session ends (a stopped or killed
/// process closes its socket), so a standby takes over within about one interval.
/// </summary>
public sealed class PostgresLeaderElection : BackgroundService, ILeadership
{
    /// <summary>The advisory lock key of the scheduler role.</summary>
    public const long LockKey = 0x436F6E64536368L; // "CondSch" in ASCII

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private TaskCompletionSource _leader = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _isLeader;
    private int _lostAttempts;

    public PostgresLeaderElection(PostgresStoreOptions options, TimeProvider? time = null, ILogger<PostgresLeaderElection>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = PostgresStoreOptions.Parse(options.ConnectionString);

        // The lock lives as long as the session: the connection must be its own, never returned to a pool.
        builder.Pooling = false;
        if (builder.KeepAlive == 0)
        {
            builder.KeepAlive = 5;
        }

        _dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>How often the lock is tried, or the held lock's connection checked.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(2);

    public bool IsLeader => _isLeader;

    /// <summary>How many times this instance has tried to take the lock and found it held by another.</summary>
    public int LostAttempts => Volatile.Read(ref _lostAttempts);

    public Task WaitForLeadershipAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            return _leader.Task.WaitAsync(ct);
        }
    }

    public override void Dispose()
    {
        _dataSource.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
                try
                {
                    await HoldOrWaitAsync(connection, stoppingToken).ConfigureAwait(false);
                }
                finally
                {
                    // Closing the session releases the lock; the role is gone from this moment.
                    Resign();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "The leader election lost its database connection; trying again in {Delay}", CheckInterval);
            }

            try
            {
                await Task.Delay(CheckInterval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task HoldOrWaitAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        while (true)
        {
            if (!_isLeader)
            {
                await using var attempt = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key);", connection);
                attempt.Parameters.Add(new NpgsqlParameter("key", NpgsqlDbType.Bigint) { Value = LockKey });
                if (await attempt.ExecuteScalarAsync(ct).ConfigureAwait(false) is true)
                {
                    lock (_gate)
                    {
                        _isLeader = true;
                        _leader.TrySetResult();
                    }

                    _logger.LogInformation("This server holds the scheduler role now");
                }
                else
                {
                    Interlocked.Increment(ref _lostAttempts);
                }
            }
            else
            {
                await using var check = new NpgsqlCommand("SELECT 1;", connection) { CommandTimeout = Math.Max(1, (int)CheckInterval.TotalSeconds * 2) };
                await check.ExecuteScalarAsync(ct).ConfigureAwait(false);
            }

            await Task.Delay(CheckInterval, _time, ct).ConfigureAwait(false);
        }
    }

    private void Resign()
    {
        lock (_gate)
        {
            if (!_isLeader)
            {
                return;
            }

            _isLeader = false;
            _leader = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        _logger.LogWarning("This server no longer holds the scheduler role");
    }
}
