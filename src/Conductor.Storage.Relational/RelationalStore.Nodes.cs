using System.Text.Json;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

public abstract partial class RelationalStore
{
    public Task RegisterAsync(NodeRegistration node, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        return ExecuteAsync(
            """
            INSERT INTO nodes (name, cpus, memory_mib, partitions, state, state_reason, last_heartbeat, address, registered_time, gres)
            VALUES (@name, @cpus, @memory, @partitions, 'Up', NULL, @now, @address, @now, @gres)
            ON CONFLICT (name) DO UPDATE SET
                cpus = excluded.cpus,
                memory_mib = excluded.memory_mib,
                partitions = excluded.partitions,
                state = 'Up',
                state_reason = NULL,
                last_heartbeat = excluded.last_heartbeat,
                address = excluded.address,
                registered_time = excluded.registered_time,
                gres = excluded.gres;
            """,
            c => c
                .With("name", node.Name.Value)
                .With("cpus", node.Cpus)
                .With("memory", node.MemoryMiB)
                .With("partitions", StoreValues.FormatList(node.Partitions))
                .With("now", now)
                .With("address", node.Address)
                .With("gres", node.GresTotal.IsEmpty ? null : node.GresTotal.ToString()),
            ct);
    }

    public async Task<NodeState?> HeartbeatAsync(NodeName node, DateTimeOffset now, CancellationToken ct)
    {
        var states = await QueryAsync(
            "UPDATE nodes SET last_heartbeat = @now WHERE name = @name RETURNING state;",
            c => c.With("name", node.Value).With("now", now),
            r => ParseNodeState(r.GetString(0)),
            ct).ConfigureAwait(false);
        return states.Count == 0 ? null : states[0];
    }

    public Task RecordRecoveryAsync(NodeName node, RecoveryReport report, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(report);
        return ExecuteAsync(
            "UPDATE nodes SET last_recovery = @report WHERE name = @name;",
            c => c.With("name", node.Value).With("report", JsonSerializer.Serialize(report)),
            ct);
    }

    public async Task<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken ct)
    {
        var nodes = await QueryAsync(
            $"""
            SELECT n.name, n.cpus, n.memory_mib, n.partitions, n.state, n.state_reason, n.last_heartbeat,
                   CAST(COALESCE(SUM(a.cpus), 0) AS integer), CAST(COALESCE(SUM(a.memory_mib), 0) AS bigint),
                   CAST(COUNT(a.job_id) AS integer), n.last_recovery, n.gres, n.drain_reason, n.drain_user, n.drain_time
            FROM nodes n
            LEFT JOIN allocations a ON a.node = n.name
            GROUP BY n.name
            ORDER BY n.name{Dialect.ByteOrder};
            """,
            None,
            r => new NodeRecord
            {
                Name = new NodeName(r.GetString(0)),
                Cpus = r.GetInt32(1),
                MemoryMiB = r.GetInt64(2),
                Partitions = StoreValues.ParseList(r.GetString(3)),
                State = ParseNodeState(r.GetString(4)),
                StateReason = r.GetStringOrNull(5),
                LastHeartbeat = r.GetTimeOrNull(6),
                AllocatedCpus = r.GetInt32(7),
                AllocatedMemoryMiB = r.GetInt64(8),
                RunningJobs = r.GetInt32(9),
                LastRecovery = r.GetStringOrNull(10) is { } json ? JsonSerializer.Deserialize<RecoveryReport>(json) : null,
                Gres = GresList.Parse(r.GetStringOrNull(11)),
                DrainReason = r.GetStringOrNull(12),
                DrainedBy = r.GetStringOrNull(13),
                DrainTime = r.GetTimeOrNull(14),
            },
            ct).ConfigureAwait(false);
        if (nodes.All(n => n.Gres.IsEmpty))
        {
            return nodes;
        }

        // The devices running jobs hold, per node (few rows: only allocations with devices).
        var held = (await QueryAsync(
                "SELECT node, devices FROM allocations WHERE devices IS NOT NULL;",
                None,
                r => (Node: r.GetString(0), Devices: GresDevice.ParseList(r.GetString(1))),
                ct).ConfigureAwait(false))
            .GroupBy(h => h.Node, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<GresDevice>)[.. g.SelectMany(h => h.Devices)], StringComparer.Ordinal);
        return [.. nodes.Select(n => held.TryGetValue(n.Name.Value, out var devices) ? n with { AllocatedDevices = devices } : n)];
    }

    public async Task<bool> SetDrainAsync(NodeName node, NodeDrain? drain, CancellationToken ct) =>
        await ExecuteAsync(
            "UPDATE nodes SET drain_reason = @reason, drain_user = @user, drain_time = @time WHERE name = @name;",
            c => c.With("name", node.Value).With("reason", drain?.Reason).With("user", drain?.User).With("time", drain?.Time),
            ct).ConfigureAwait(false) == 1;

    private static NodeState ParseNodeState(string text) =>
        Enum.TryParse<NodeState>(text, ignoreCase: true, out var state)
            ? state
            : throw new InvalidDataException($"Unknown node state '{text}' in the database.");
}
