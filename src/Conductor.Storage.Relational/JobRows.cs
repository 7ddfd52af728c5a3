using System.Data.Common;
using Conductor.Core.Jobs;
using Conductor.Core.Nodes;
using Conductor.Core.Scheduling;

namespace Conductor.Storage.Relational;

/// <summary>The job columns a <see cref="JobRecord"/> is built from (never the script), and the mapping.</summary>
public static class JobRows
{
    /// <summary>The select list, for a query that names the jobs table <c>j</c>.</summary>
    public const string Columns =
        "j.id, j.state, j.reason, j.name, j.account, j.partition, j.cpus_per_task, j.ntasks, j.ntasks_per_node, " +
        "j.memory_mib, j.time_limit_seconds, j.work_dir, j.stdout_pattern, j.stderr_pattern, j.environment, " +
        "j.arguments, j.exclusive, j.requeue, j.max_retries, j.nice, j.hold, j.begin_time, j.submit_time, " +
        "j.eligible_time, j.start_time, j.end_time, j.attempt, j.node, j.cores, j.exit_code, j.error_msg, " +
        "j.stdout_path, j.stderr_path, j.pid, j.cpu_seconds, j.max_rss_kib, j.pid_start_ticks, " +
        "j.gres, j.devices, j.expected_start, j.owner, " +
        "j.array_job_id, j.array_task_id, j.array_tasks, j.array_spec, j.gpus_per_job, j.gpus_per_task";

    /// <summary>The number of columns in <see cref="Columns"/>; extra columns of a query follow from here.</summary>
    public const int Count = 47;

    public static JobRecord Read(DbDataReader r)
    {
        var timeLimit = r.GetInt64OrNull(10);
        var spec = new JobSpec
        {
            Name = r.GetString(3),
            Account = r.GetString(4),
            Partition = r.GetString(5),
            CpusPerTask = r.GetInt32(6),
            Ntasks = r.GetInt32(7),
            NtasksPerNode = r.GetInt32(8),
            MemoryMiB = r.GetInt64OrNull(9),
            TimeLimit = timeLimit is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            WorkDir = r.GetString(11),
            StdoutPattern = r.GetString(12),
            StderrPattern = r.GetStringOrNull(13),
            Environment = StoreValues.EnvironmentFromJson(r.GetString(14)),
            Arguments = StoreValues.ArgumentsFromJson(r.GetString(15)),
            Exclusive = r.GetBoolean(16),
            Requeue = r.GetBoolean(17),
            MaxRetries = r.GetInt32(18),
            Nice = r.GetInt32(19),
            Hold = r.GetBoolean(20),
            Begin = r.GetTimeOrNull(21),
            Gres = GresList.Parse(r.GetStringOrNull(37)),
            User = r.GetString(40),
            Array = r.GetStringOrNull(44) is { } array ? JobArraySpec.Parse(array) : null,
            GpusPerJob = r.GetInt32OrNull(45),
            GpusPerTask = r.GetInt32OrNull(46),
        };

        var node = r.GetStringOrNull(27);
        var pid = r.GetInt32OrNull(33);
        return new JobRecord
        {
            Id = new JobId(r.GetInt64(0)),
            State = StoreValues.ParseState(r.GetString(1)),
            Reason = r.GetStringOrNull(2),
            Spec = spec,
            SubmitTime = StoreValues.FromMs(r.GetInt64(22)),
            EligibleTime = r.GetTimeOrNull(23),
            StartTime = r.GetTimeOrNull(24),
            EndTime = r.GetTimeOrNull(25),
            Attempt = r.GetInt32(26),
            Node = node is null ? null : new NodeName(node),
            Cores = StoreValues.ParseCores(r.GetStringOrNull(28)),
            ExitCode = StoreValues.ParseExitCode(r.GetStringOrNull(29)),
            ErrorMessage = r.GetStringOrNull(30),
            StdoutPath = r.GetStringOrNull(31),
            StderrPath = r.GetStringOrNull(32),
            ProcessId = pid,
            ProcessStartTicks = r.GetInt64OrNull(36),
            CpuSeconds = r.GetDoubleOrNull(34),
            MaxRssKiB = r.GetInt64OrNull(35),
            Devices = GresDevice.ParseList(r.GetStringOrNull(38)),
            ExpectedStart = r.GetTimeOrNull(39),
            ArrayJobId = r.GetInt64OrNull(41) is { } arrayJob ? new JobId(arrayJob) : null,
            ArrayTaskId = r.GetInt32OrNull(42),
            ArrayPendingTasks = r.GetStringOrNull(43) is { } tasks ? TaskSet.Parse(tasks) : null,
        };
    }
}
