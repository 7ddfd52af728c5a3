using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Conductor.Server.Auth;

/// <summary>
/// Browser log-in without pasting a token. A caller with a token asks for a login code (single use, valid for
/// <see cref="CodeLifetime"/>); the browser trades the code for a session (an HttpOnly cookie, valid for
/// <see cref="SessionLifetime"/> at most, whatever the browser does). Codes and sessions live in this server's
/// memory only, kept by their SHA-256 hash, so a restart or a log-out ends them for good.
/// </summary>
public sealed class DashboardSessions(TimeProvider time)
{
    public const string CookieName = "conductor_session";

    /// <summary>How long a login code printed by <c>conductor dashboard</c> may wait for its click.</summary>
    public static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(2);

    /// <summary>How long a browser session lasts, from log-in; then the page asks again.</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);

    /// <summary>Bounds memory against a caller that mints codes in a loop.</summary>
    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, Entry> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Entry> _sessions = new(StringComparer.Ordinal);

    public sealed record Issued(string Secret, DateTimeOffset Expires, Caller Caller);

    /// <summary>A new single-use login code that logs a browser in as <paramref name="caller"/>.</summary>
    public Issued CreateCode(Caller caller) => Add(_codes, caller, CodeLifetime);

    /// <summary>Trades a login code for a session; null when the code is unknown, used or expired.</summary>
    public Issued? Redeem(string code)
    {
        // TryRemove makes the code single-use even when two browsers race with it.
        if (!_codes.TryRemove(Hash(code), out var entry) || entry.Expires <= time.GetUtcNow())
        {
            return null;
        }

        return CreateSession(entry.Caller);
    }

    /// <summary>A session for a caller that proved itself with a token (a pasted token becomes a cookie, too).</summary>
    public Issued CreateSession(Caller caller) => Add(_sessions, caller, SessionLifetime);

    /// <summary>The session's caller and its end, or null when the session is unknown or over.</summary>
    public (Caller Caller, DateTimeOffset Expires)? Find(string session)
    {
        var key = Hash(session);
        if (!_sessions.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (entry.Expires <= time.GetUtcNow())
        {
            _sessions.TryRemove(key, out _);
            return null;
        }

        return (entry.Caller, entry.Expires);
    }

    /// <summary>Ends a session (log-out); ending an unknown one is fine.</summary>
    public void End(string session) => _sessions.TryRemove(Hash(session), out _);

    public int SessionCount => _sessions.Count;

    private Issued Add(ConcurrentDictionary<string, Entry> entries, Caller caller, TimeSpan lifetime)
    {
        var now = time.GetUtcNow();
        if (entries.Count >= MaxEntries)
        {
            Sweep(entries, now);
        }

        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var expires = now + lifetime;
        entries[Hash(secret)] = new Entry(caller, expires);
        return new Issued(secret, expires, caller);
    }

    /// <summary>Drops what has expired; when that is not enough, the entries closest to their end.</summary>
    private static void Sweep(ConcurrentDictionary<string, Entry> entries, DateTimeOffset now)
    {
        foreach (var (key, entry) in entries)
        {
            if (entry.Expires <= now)
            {
                entries.TryRemove(key, out _);
            }
        }

        foreach (var (key, _) in entries.OrderBy(e => e.Value.Expires).Take(Math.Max(0, entries.Count - (MaxEntries * 9 / 10))))
        {
            entries.TryRemove(key, out _);
        }
    }

    private static string Hash(string secret) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private sealed record Entry(Caller Caller, DateTimeOffset Expires);
}
