using Conductor.Server.Auth;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.EndToEnd.Tests;

/// <summary>Login codes and sessions against a moved clock.</summary>
public sealed class DashboardSessionsTests
{
    private static readonly Caller Alice = new("alice", IsAdmin: false);

    [Fact]
    public void Redeem_Fails_WhenTheCodeHasExpired()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-03-01T10:00:00Z"));
        var sessions = new DashboardSessions(time);
        var code = sessions.CreateCode(Alice);
        time.Advance(DashboardSessions.CodeLifetime + TimeSpan.FromSeconds(1));
        Assert.Null(sessions.Redeem(code.Secret));
    }

    [Fact]
    public void Session_EndsAtItsLifetime_WhateverTheBrowserDoes()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-03-01T10:00:00Z"));
        var sessions = new DashboardSessions(time);
        var session = sessions.Redeem(sessions.CreateCode(Alice).Secret)!;
        Assert.Equal(Alice, sessions.Find(session.Secret)?.Caller);

        time.Advance(DashboardSessions.SessionLifetime - TimeSpan.FromSeconds(1));
        Assert.NotNull(sessions.Find(session.Secret));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(sessions.Find(session.Secret));
        Assert.Equal(0, sessions.SessionCount);
    }

    [Fact]
    public void End_ForgetsTheSession_AndUnknownSecretsFindNothing()
    {
        var sessions = new DashboardSessions(TimeProvider.System);
        var session = sessions.CreateSession(Alice);
        sessions.End(session.Secret);
        Assert.Null(sessions.Find(session.Secret));
        Assert.Null(sessions.Find("made-up"));
        Assert.Null(sessions.Redeem(session.Secret));
    }
}
