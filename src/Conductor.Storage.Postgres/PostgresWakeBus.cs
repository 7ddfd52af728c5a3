using System.Collections.Concurrent;
using Conductor.Core.Signals;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Conductor.Storage.Postgres;

/// <summary>
/// A wake bus across processes on PostgreSQL's <c>LISTEN/NOTIFY</c>: a publish sets this process's subscribers
/// at once and sends <c>NOTIFY conductor_wake, '&lt;topic&gt;'</c>; one dedicated connection listens on the channel
/// (reconnecting with back-off when it drops) and sets the subscribers of every topic it hears. Wake-ups only
/// hint, so a lost notification costs a waiter its timeout, never correctness; after a reconnect every local
/// subscriber is woken once, because notifications sent while the connection was down are lost.
/// </summary>
public sealed class PostgresWakeBus : IWakeBus, IHostedService, IAsyncDisposable
{
    /// <summary>The notification channel.</summary>
    public const string Channel = "conductor_wake";

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, ConcurrentBag<WakeSignal>> _subscribers = new(StringComparer.Ordinal);
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _stopping;
    private Task? _listener;
    private int _disposed;

    public PostgresWakeBus(PostgresStoreOptions options, ILogger<PostgresWakeBus>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = PostgresStoreOptions.Parse(options.ConnectionString);

        // The listening connection sits idle for long stretches: keepalives find a dead peer.
        if (builder.KeepAlive == 0)
        {
            builder.KeepAlive = 15;
        }

        _dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Completes once the listening connection has subscribed to the channel for the first time.</summary>
    public Task Listening => _listening.Task;

    public WakeSignal Subscribe(WakeTopic topic)
    {
        var signal = new WakeSignal();
        _subscribers.GetOrAdd(topic.Name, _ => []).Add(signal);
        return signal;
    }

    public void Publish(WakeTopic topic)
    {
        Deliver(topic.Name);
        _ = NotifyAsync(topic.Name);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_listener is null)
        {
            _stopping = new CancellationTokenSource();
            _listener = Task.Run(() => ListenAsync(_stopping.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is null || _stopping is null)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _listener.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the listener and closes the connections; safe to call more than once (a container disposes each registration).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping?.Dispose();
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    private void Deliver(string topic)
    {
        if (_subscribers.TryGetValue(topic, out var signals))
        {
            foreach (var signal in signals)
            {
                signal.Set();
            }
        }
    }

    private void DeliverAll()
    {
        foreach (var signals in _subscribers.Values)
        {
            foreach (var signal in signals)
            {
                signal.Set();
            }
        }
    }

    private async Task NotifyAsync(string topic)
    {
        try
        {
            await using var command = _dataSource.CreateCommand("SELECT pg_notify(@channel, @topic);");
            command.Parameters.Add(new NpgsqlParameter("channel", NpgsqlDbType.Text) { Value = Channel });
            command.Parameters.Add(new NpgsqlParameter("topic", NpgsqlDbType.Text) { Value = topic });
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch (Exception error)
        {
            _logger.LogWarning(error, "Could not send the wake-up for {Topic} to other processes.", topic);
        }
    }

    private async Task ListenAsync(CancellationToken stopping)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        var connectedBefore = false;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(stopping).ConfigureAwait(false);
                connection.Notification += (_, e) => Deliver(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel};", connection))
                {
                    await listen.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                }

                backoff = TimeSpan.FromMilliseconds(250);
                if (connectedBefore)
                {
                    _logger.LogInformation("Listening for wake-ups again.");
                    DeliverAll();
                }

                connectedBefore = true;
                _listening.TrySetResult();
                while (true)
                {
                    await connection.WaitAsync(stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                _logger.LogWarning(error, "The wake-up listener lost its database connection; retrying in {Delay}.", backoff);
                try
                {
                    await Task.Delay(backoff, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }
}
