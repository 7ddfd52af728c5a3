using System.Text.Json;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;
using Conductor.Storage.Common;
using Dapper;

namespace Conductor.Storage.Sqlite;

public sealed partial class SqliteStore
{
    public async Task RegisterAsync(NodeRegistration node, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        await WriteAsync(async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(
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
                new
                {
                    name = node.Name.Value,
                    cpus = node.Cpus,
                    memory = node.MemoryMiB,
                    partitions = StoreValues.FormatList(node.Partitions),
                    now = SqlValues.ToMs(now),
                    address = node.Address,
                    gres = node.GresTotal.IsEmpty ? null : node.GresTotal.ToString(),
                },
                tx,
                cancellationToken: ct)).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
    }

    public Task<NodeState?> HeartbeatAsync(NodeName node, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(async (connection, tx) =>
        {
            await using var command = Command(connection, tx, "UPDATE nodes SET last_heartbeat = @now WHERE name = @name RETURNING state;");
            command.Parameters.AddWithValue("@name", node.Value);
            command.Parameters.AddWithValue("@now", SqlValues.ToMs(now));
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is string state ? ParseNodeState(state) : (NodeState?)null;
        }, ct);

    public async Task RecordRecoveryAsync(NodeName node, RecoveryReport report, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(report);
        await WriteAsync(
            (connection, tx) => connection.ExecuteAsync(new CommandDefinition(
                "UPDATE nodes SET last_recovery = @report WHERE name = @name;",
                new { name = node.Value, report = JsonSerializer.Serialize(report) },
                tx,
                cancellationToken: ct)),
            ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = Command(connection, null, """
            SELECT n.name, n.cpus, n.memory_mib, n.partitions, n.state, n.state_reason, n.last_heartbeat,
                   COALESCE(SUM(a.cpus), 0), COALESCE(SUM(a.memory_mib), 0), COUNT(a.job_id), n.last_recovery,
                   n.gres, group_concat(a.devices, ',')
            FROM nodes n
            LEFT JOIN allocations a ON a.node = n.name
            GROUP BY n.name
            ORDER BY n.name;
            """);
        var nodes = new List<NodeRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            nodes.Add(new NodeRecord
            {
                Name = new NodeName(reader.GetString(0)),
                Cpus = reader.GetInt32(1),
                MemoryMiB = reader.GetInt64(2),
                Partitions = StoreValues.ParseList(reader.GetString(3)),
                State = ParseNodeState(reader.GetString(4)),
                StateReason = reader.GetStringOrNull(5),
                LastHeartbeat = reader.GetTimeOrNull(6),
                AllocatedCpus = reader.GetInt32(7),
                AllocatedMemoryMiB = reader.GetInt64(8),
                RunningJobs = reader.GetInt32(9),
                LastRecovery = reader.GetStringOrNull(10) is { } json ? JsonSerializer.Deserialize<RecoveryReport>(json) : null,
                Gres = GresList.Parse(reader.GetStringOrNull(11)),
                AllocatedDevices = GresDevice.ParseList(reader.GetStringOrNull(12)),
            });
        }

        return nodes;
    }

    private static NodeState ParseNodeState(string text) =>
        Enum.TryParse<NodeState>(text, ignoreCase: true, out var state)
            ? state
            : throw new InvalidDataException($"Unknown node state '{text}' in the database.");
}
