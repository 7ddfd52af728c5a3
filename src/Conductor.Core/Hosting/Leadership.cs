namespace Conductor.Core.Hosting;

/// <summary>
/// Whether this process holds the scheduler role. Several servers may share one database; only the leader runs
/// scheduling passes and the node watchdog, the others serve the API.
/// </summary>
public interface ILeadership
{
    bool IsLeader { get; }

    /// <summary>Completes when this process is the leader (at once when it already is).</summary>
    Task WaitForLeadershipAsync(CancellationToken ct);
}

/// <summary>The leadership of a server that is alone with its database (the all-in-one mode): always the leader.</summary>
public sealed class SoleLeadership : ILeadership
{
    public bool IsLeader => true;

    public Task WaitForLeadershipAsync(CancellationToken ct) => Task.CompletedTask;
}
