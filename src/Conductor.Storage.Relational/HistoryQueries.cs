using System.Data.Common;
using System.Globalization;
using System.Text;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;

namespace Conductor.Storage.Relational;

/// <summary>
/// The history and cluster-sample queries, in SQL that SQLite and PostgreSQL read alike (no dialect needed), run by
/// <see cref="RelationalStore"/> as its <see cref="IHistoryStore"/>.
/// </summary>
public static class HistoryQueries
{
    public const int MaxLimit = 1000;

    /// <summary>Ended jobs, as the partial indexes on end time name them.</summary>
    private const string Ended = "j.state NOT IN ('PENDING', 'RUNNING')";

    /// <summary>CPU time over elapsed × the CPUs held, as <see cref="JobEfficiency"/> computes it; -1 when unknown.</summary>
    private static readonly string CpuEfficiency = CpuEfficiencyOf("j.");

    /// <summary>Peak resident memory over the memory reserved; -1 when unknown.</summary>
    private static readonly string MemoryEfficiency = MemoryEfficiencyOf("j.");

    /// <summary>
    /// The CPU efficiency of the row <paramref name="t"/> names ("j." in queries, "" in the index). The CPUs held are the
    /// pinned cores (an exclusive job holds its node), else what the job asked for. The index on this expression and the
    /// queries must spell it the same way for either database to use the index.
    /// </summary>
    private static string CpuEfficiencyOf(string t) =>
        $"COALESCE(CAST({t}cpu_seconds AS DOUBLE PRECISION) * 1000.0 / NULLIF(CAST({t}end_time - {t}start_time AS DOUBLE PRECISION) * " +
        $"CAST(CASE WHEN {t}cores IS NULL OR {t}cores = '' THEN {t}cpus_per_task * {t}ntasks " +
        $"ELSE LENGTH({t}cores) - LENGTH(REPLACE({t}cores, ',', '')) + 1 END AS DOUBLE PRECISION), 0), -1.0)";

    private static string MemoryEfficiencyOf(string t) =>
        $"COALESCE(CAST({t}max_rss_kib AS DOUBLE PRECISION) / NULLIF(CAST({t}memory_mib AS DOUBLE PRECISION) * 1024.0, 0), -1.0)";

    public static async Task<HistoryPage> ListHistoryAsync(DbConnection connection, DbTransaction? tx, HistoryQuery query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var key = query.Sort switch
        {
            HistorySort.CpuEfficiency => CpuEfficiency,
            HistorySort.MemoryEfficiency => MemoryEfficiency,
            _ => "j.end_time",
        };
        await using var command = Command(connection, tx, "");
        var sql = new StringBuilder($"SELECT {JobRows.Columns}, {key} FROM jobs j WHERE {Ended}");
        if (query.States is { Count: > 0 } states)
        {
            sql.Append(" AND j.state IN (");
            for (var i = 0; i < states.Count; i++)
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"@s{i}");
                sql.Append(i == 0 ? name : ", " + name);
                Add(command, name, states[i].ToSlurmName());
            }

            sql.Append(')');
        }

        if (query.Owner is not null)
        {
            sql.Append(" AND j.owner = @owner");
            Add(command, "@owner", query.Owner);
        }

        if (query.Account is not null)
        {
            sql.Append(" AND j.account = @account");
            Add(command, "@account", query.Account);
        }

        if (query.Partition is not null)
        {
            sql.Append(" AND j.partition = @partition");
            Add(command, "@partition", query.Partition);
        }

        if (!string.IsNullOrEmpty(query.Name))
        {
            sql.Append(" AND LOWER(j.name) LIKE @name ESCAPE '\\'");
            var escaped = query.Name.ToLowerInvariant().Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
            Add(command, "@name", "%" + escaped + "%");
        }

        if (query.EndedFrom is { } from)
        {
            sql.Append(" AND j.end_time >= @from");
            Add(command, "@from", StoreValues.ToMs(from));
        }

        if (query.EndedTo is { } to)
        {
            sql.Append(" AND j.end_time < @to");
            Add(command, "@to", StoreValues.ToMs(to));
        }

        var order = query.Ascending ? "" : " DESC";
        if (query.After is { } after)
        {
            var beyond = query.Ascending ? ">" : "<";
            // The row comparison is exact; the plain bound before it lets SQLite, like PostgreSQL with the row alone, start
            // the index walk at the cursor, so that a deep page costs what the first does.
            sql.Append(CultureInfo.InvariantCulture, $" AND {key} {beyond}= @key AND ({key}, j.id) {beyond} (@key, @id)");
            Add(command, "@id", after.Id);
            if (query.Sort == HistorySort.EndTime)
            {
                Add(command, "@key", (long)after.Key);
            }
            else
            {
                Add(command, "@key", after.Key);
            }
        }

        var limit = Math.Clamp(query.Limit, 1, MaxLimit);
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY {key}{order}, j.id{order} LIMIT @limit");
        Add(command, "@limit", limit);
        command.CommandText = sql.ToString();

        // The page stops early at the job that brings it to its memory bound, and says where to go on.
        var jobs = new List<JobRecord>();
        HistoryCursor? last = null;
        var bytes = 0L;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (bytes < JobQuery.MaxPageBytes && await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var job = JobRows.Read(reader);
            jobs.Add(job);
            bytes += JobQuery.SizeOf(job);
            last = new HistoryCursor(Convert.ToDouble(reader.GetValue(JobRows.Count), CultureInfo.InvariantCulture), job.Id.Value);
        }

        return new HistoryPage(jobs, jobs.Count == limit || bytes >= JobQuery.MaxPageBytes ? last : null);
    }

    public static async Task<JobActivity> GetActivityAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var fromMs = StoreValues.ToMs(from);
        var toMs = StoreValues.ToMs(to);
        long started, finished;
        await using (var counts = Command(connection, tx, $"""
            SELECT
                (SELECT COUNT(*) FROM jobs j WHERE j.start_time >= @from AND j.start_time < @to),
                (SELECT COUNT(*) FROM jobs j WHERE {Ended} AND j.end_time >= @from AND j.end_time < @to)
            """))
        {
            Add(counts, "@from", fromMs);
            Add(counts, "@to", toMs);
            await using var reader = await counts.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            started = reader.GetInt64(0);
            finished = reader.GetInt64(1);
        }

        double? median = null;
        if (started > 0)
        {
            // The middle one (or the two middle ones) of the waits, eligible → start, of the jobs started.
            await using var middle = Command(connection, tx, """
                SELECT j.start_time - COALESCE(j.eligible_time, j.submit_time) AS wait FROM jobs j
                WHERE j.start_time >= @from AND j.start_time < @to
                ORDER BY wait LIMIT @count OFFSET @offset
                """);
            Add(middle, "@from", fromMs);
            Add(middle, "@to", toMs);
            Add(middle, "@count", started % 2 == 0 ? 2 : 1);
            Add(middle, "@offset", (started - 1) / 2);
            var waits = new List<long>();
            await using var reader = await middle.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                waits.Add(reader.GetInt64(0));
            }

            median = waits.Count == 0 ? null : Math.Max(0, waits.Average() / 1000.0);
        }

        return new JobActivity((int)started, (int)finished, median);
    }

    public static async Task SaveSampleAsync(DbConnection connection, DbTransaction? tx, ClusterSample sample, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sample);
        await using var command = Command(connection, tx, """
            INSERT INTO cluster_samples (
                minute, cpus_total, cpus_allocated, gpus_total, gpus_allocated, pending, running, started, finished, median_wait_seconds)
            VALUES (@minute, @cpus_total, @cpus_allocated, @gpus_total, @gpus_allocated, @pending, @running, @started, @finished, @median_wait)
            ON CONFLICT (minute) DO UPDATE SET
                cpus_total = excluded.cpus_total, cpus_allocated = excluded.cpus_allocated,
                gpus_total = excluded.gpus_total, gpus_allocated = excluded.gpus_allocated,
                pending = excluded.pending, running = excluded.running,
                started = excluded.started, finished = excluded.finished, median_wait_seconds = excluded.median_wait_seconds
            """);
        Add(command, "@minute", StoreValues.ToMs(sample.Minute));
        Add(command, "@cpus_total", sample.CpusTotal);
        Add(command, "@cpus_allocated", sample.CpusAllocated);
        Add(command, "@gpus_total", sample.GpusTotal);
        Add(command, "@gpus_allocated", sample.GpusAllocated);
        Add(command, "@pending", sample.Pending);
        Add(command, "@running", sample.Running);
        Add(command, "@started", sample.Started);
        Add(command, "@finished", sample.Finished);
        Add(command, "@median_wait", sample.MedianWaitSeconds);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task<IReadOnlyList<ClusterSample>> ListSamplesAsync(
        DbConnection connection, DbTransaction? tx, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        await using var command = Command(connection, tx, """
            SELECT minute, cpus_total, cpus_allocated, gpus_total, gpus_allocated, pending, running, started, finished, median_wait_seconds
            FROM cluster_samples WHERE minute >= @from AND minute < @to ORDER BY minute
            """);
        Add(command, "@from", StoreValues.ToMs(from));
        Add(command, "@to", StoreValues.ToMs(to));
        var samples = new List<ClusterSample>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            samples.Add(new ClusterSample(
                StoreValues.FromMs(reader.GetInt64(0)),
                reader.GetInt32(1),
                reader.GetInt32(2),
                reader.GetInt32OrNull(3),
                reader.GetInt32OrNull(4),
                reader.GetInt64(5),
                reader.GetInt64(6),
                reader.GetInt32(7),
                reader.GetInt32(8),
                reader.GetDoubleOrNull(9)));
        }

        return samples;
    }

    public static async Task<int> PurgeSamplesAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset before, CancellationToken ct)
    {
        await using var command = Command(connection, tx, "DELETE FROM cluster_samples WHERE minute < @before");
        Add(command, "@before", StoreValues.ToMs(before));
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The schema both stores add for this: the per-minute samples, an index for the activity counts, and one per
    /// order of the history (end time, each efficiency) over ended jobs only, so that a page of 100,000 jobs in any
    /// order is a short index walk from its cursor.
    /// </summary>
    public static string Migration { get; } = $"""
        CREATE TABLE cluster_samples (
            minute               bigint  PRIMARY KEY,
            cpus_total           integer NOT NULL,
            cpus_allocated       integer NOT NULL,
            gpus_total           integer,
            gpus_allocated       integer,
            pending              bigint  NOT NULL,
            running              bigint  NOT NULL,
            started              integer NOT NULL,
            finished             integer NOT NULL,
            median_wait_seconds  double precision
        );

        CREATE INDEX ix_jobs_started ON jobs (start_time);
        CREATE INDEX ix_jobs_finished ON jobs (end_time, id) WHERE {Ended.Replace("j.", "", StringComparison.Ordinal)};
        CREATE INDEX ix_jobs_cpu_efficiency ON jobs (({CpuEfficiencyOf("")}), id) WHERE {Ended.Replace("j.", "", StringComparison.Ordinal)};
        CREATE INDEX ix_jobs_memory_efficiency ON jobs (({MemoryEfficiencyOf("")}), id) WHERE {Ended.Replace("j.", "", StringComparison.Ordinal)};
        """;

    private static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }

    private static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}
