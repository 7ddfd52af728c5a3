namespace Conductor.Storage.Relational;

/// <summary>
/// The schema as an ordered list of migrations; migration <c>i</c> brings the database to version <c>i + 1</c>.
/// Times are unix milliseconds in <c>bigint</c> columns on every database; the few types that differ come from the dialect.
/// </summary>
internal static class Schema
{
    private static readonly Func<SqlDialect, string>[] Steps =
    [
        d => $"""
        CREATE TABLE jobs (
            id                  {d.IdentityKey},
            state               text    NOT NULL,
            reason              text,
            name                text    NOT NULL,
            account             text    NOT NULL,
            partition           text    NOT NULL,
            cpus_per_task       integer NOT NULL,
            ntasks              integer NOT NULL,
            ntasks_per_node     integer NOT NULL,
            memory_mib          bigint,
            time_limit_seconds  bigint,
            work_dir            text    NOT NULL,
            stdout_pattern      text    NOT NULL,
            stderr_pattern      text,
            environment         {d.JsonType} NOT NULL,
            arguments           {d.JsonType} NOT NULL,
            exclusive           {d.BoolType} NOT NULL,
            requeue             {d.BoolType} NOT NULL,
            max_retries         integer NOT NULL,
            nice                integer NOT NULL,
            hold                {d.BoolType} NOT NULL,
            begin_time          bigint,
            priority            integer NOT NULL,
            submit_time         bigint  NOT NULL,
            eligible_time       bigint,
            start_time          bigint,
            end_time            bigint,
            attempt             integer NOT NULL DEFAULT 0,
            node                text,
            cores               text,
            exit_code           text,
            error_msg           text,
            stdout_path         text,
            stderr_path         text,
            pid                 integer,
            pid_start_ticks     bigint,
            launched_time       bigint,
            cpu_seconds         double precision,
            max_rss_kib         bigint
        );

        -- The scheduler's pending scan: a partial index that holds only pending jobs and carries every column
        -- the snapshot reads, so a pass is answered from the index alone and never walks the ended jobs.
        {d.CoveringIndex("ix_jobs_pending", "jobs", "priority DESC, submit_time, id",
            "partition, ntasks, cpus_per_task, memory_mib, exclusive, hold, begin_time, time_limit_seconds, reason", "state = 'PENDING'")};
        CREATE INDEX ix_jobs_state ON jobs (state);
        CREATE INDEX ix_jobs_account ON jobs (account, id);
        CREATE INDEX ix_jobs_partition ON jobs (partition, id);
        CREATE INDEX ix_jobs_node ON jobs (node, id);

        -- Scripts (up to megabytes each) live apart so that scans of jobs stay small.
        CREATE TABLE job_scripts (
            job_id  {d.JobIdKey} REFERENCES jobs (id) ON DELETE CASCADE,
            script  text   NOT NULL
        );

        CREATE TABLE job_events (
            seq     {d.IdentityKey},
            job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            time    bigint NOT NULL,
            kind    text   NOT NULL,
            detail  text
        );

        CREATE INDEX ix_job_events_job ON job_events (job_id, seq);

        CREATE TABLE nodes (
            name             text    PRIMARY KEY,
            cpus             integer NOT NULL,
            memory_mib       bigint  NOT NULL,
            partitions       text    NOT NULL,
            state            text    NOT NULL,
            state_reason     text,
            last_heartbeat   bigint,
            address          text,
            registered_time  bigint  NOT NULL
        );

        -- One row per job at most: the primary key makes a second allocation of a job impossible.
        CREATE TABLE allocations (
            job_id        {d.JobIdKey} REFERENCES jobs (id) ON DELETE CASCADE,
            node          text    NOT NULL REFERENCES nodes (name),
            cores         text    NOT NULL,
            cpus          integer NOT NULL,
            memory_mib    bigint  NOT NULL,
            exclusive     {d.BoolType} NOT NULL,
            attempt       integer NOT NULL,
            created_time  bigint  NOT NULL
        );

        CREATE INDEX ix_allocations_node ON allocations (node);
        """,
        _ => """
        ALTER TABLE nodes ADD COLUMN last_recovery text;

        -- Retention deletes ended jobs by age.
        CREATE INDEX ix_jobs_ended ON jobs (end_time) WHERE state NOT IN ('PENDING', 'RUNNING');
        """,
        d => $"""
        -- Generic resources: what a job asks for, the devices it holds, what a node has.
        ALTER TABLE jobs ADD COLUMN gres text;
        ALTER TABLE jobs ADD COLUMN devices text;
        ALTER TABLE allocations ADD COLUMN devices text;
        ALTER TABLE nodes ADD COLUMN gres text;

        -- A blocked job's backfill reservation; few jobs have one at a time.
        ALTER TABLE jobs ADD COLUMN expected_start bigint;
        CREATE INDEX ix_jobs_expected_start ON jobs (expected_start) WHERE expected_start IS NOT NULL;

        -- The pending scan also reads the account (fair-share) and the generic resources.
        DROP INDEX ix_jobs_pending;
        {d.CoveringIndex("ix_jobs_pending", "jobs", "priority DESC, submit_time, id",
            "partition, ntasks, cpus_per_task, memory_mib, exclusive, hold, begin_time, time_limit_seconds, reason, account, gres", "state = 'PENDING'")};
        """,
        _ => HistoryQueries.Migration,
        _ => """
        -- The owner (the Unix user a job runs as) apart from the account, the charge label; older rows' owner was their account.
        ALTER TABLE jobs ADD COLUMN owner text NOT NULL DEFAULT '';
        UPDATE jobs SET owner = account;
        CREATE INDEX ix_jobs_owner ON jobs (owner, id);
        """,
        _ => """
        -- Job arrays, as Slurm keeps them. The array's own row (array_job_id = id) holds the tasks not yet started as a
        -- set of task ids (array_tasks, e.g. '8-100'): pending tasks cost nothing until they start. A task is split off
        -- into a row of its own (array_job_id = the array, array_task_id = its index) when it is about to start; the
        -- last one takes over the array's row. array_max_running is the '%N' limit on tasks running at once.
        ALTER TABLE jobs ADD COLUMN array_job_id bigint;
        ALTER TABLE jobs ADD COLUMN array_task_id integer;
        ALTER TABLE jobs ADD COLUMN array_tasks text;
        ALTER TABLE jobs ADD COLUMN array_max_running integer;
        CREATE INDEX ix_jobs_array ON jobs (array_job_id, array_task_id) WHERE array_job_id IS NOT NULL;
        """,
        d => $"""
        -- Dependencies (Slurm's --dependency): one row per term, in order; any_of is the same on every row of a job
        -- (terms joined by '?': any one suffices). A met dependency's rows are deleted (Slurm then shows "(null)").
        -- target_id names a job, or an array and so all its tasks; target_task one task of it; singleton has no target.
        CREATE TABLE job_dependencies (
            job_id       bigint  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            position     integer NOT NULL,
            kind         text    NOT NULL,
            target_id    bigint,
            target_task  integer,
            minutes      integer NOT NULL,
            any_of       {d.BoolType} NOT NULL,
            PRIMARY KEY (job_id, position)
        );
        CREATE INDEX ix_job_dependencies_target ON job_dependencies (target_id);

        -- A hold put by the admin: only the admin may release it (reason JobHeldAdmin).
        ALTER TABLE jobs ADD COLUMN admin_hold {d.BoolType} NOT NULL DEFAULT FALSE;
        """,
        d => $"""
        -- An operator's drain of a node, apart from its liveness (state): kept across agent restarts until resumed.
        ALTER TABLE nodes ADD COLUMN drain_reason text;
        ALTER TABLE nodes ADD COLUMN drain_user text;
        ALTER TABLE nodes ADD COLUMN drain_time bigint;

        -- A requeue asked of a running job (who asked): its agent stops it and reports it back to PENDING.
        ALTER TABLE jobs ADD COLUMN requeue_requested text;

        -- Signals asked for running jobs, taken by the agent of the job's node.
        CREATE TABLE job_signals (
            seq          {d.IdentityKey},
            job_id       bigint  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            attempt      integer NOT NULL,
            signal       integer NOT NULL,
            batch_only   {d.BoolType} NOT NULL,
            requested_by text    NOT NULL,
            time         bigint  NOT NULL
        );
        CREATE INDEX ix_job_signals_job ON job_signals (job_id);
        """,
        d => $"""
        -- The array's spec as submitted ('1-100%4'), on its row and every task's: what a task's SLURM_ARRAY_* variables say.
        ALTER TABLE jobs ADD COLUMN array_spec text;

        -- The arrays that still hold unstarted tasks (one row per array), and the array tasks pending or running: what
        -- splitting tasks off and the '%N' limit read, never the ended tasks of a large array.
        CREATE INDEX ix_jobs_unstarted ON jobs (id) WHERE array_tasks IS NOT NULL AND state = 'PENDING';
        CREATE INDEX ix_jobs_array_active ON jobs (array_job_id) WHERE array_job_id IS NOT NULL AND state IN ('PENDING', 'RUNNING');

        -- The pending scan also reads the array columns (the '%N' limit is applied to the pass).
        DROP INDEX ix_jobs_pending;
        {d.CoveringIndex("ix_jobs_pending", "jobs", "priority DESC, submit_time, id",
            "partition, ntasks, cpus_per_task, memory_mib, exclusive, hold, begin_time, time_limit_seconds, reason, account, gres, array_job_id, array_task_id, array_max_running",
            "state = 'PENDING'")};
        """,
        d => $"""
        -- The log of changes to pending jobs, written by triggers whoever writes: the scheduler keeps the pending jobs in
        -- memory and reads only what changed since its last pass.
        {d.ChangeLogMigration("state, reason, hold, priority, submit_time, partition, ntasks, cpus_per_task, memory_mib, exclusive, begin_time, time_limit_seconds, account, owner, gres, array_job_id, array_task_id, array_tasks, array_max_running")}
        """,
        d => $"""
        -- A job's own --kill-on-invalid-dep (yes/no); NULL follows the server's option.
        ALTER TABLE jobs ADD COLUMN kill_invalid_dep {d.BoolType};
        """,
        d => $"""
        -- How GPUs were asked, beside the folded gres list: --gpus (for the whole job) and --gpus-per-task; NULL when not so.
        ALTER TABLE jobs ADD COLUMN gpus_per_job integer;
        ALTER TABLE jobs ADD COLUMN gpus_per_task integer;
        """,
    ];

    /// <summary>The schema version this code writes.</summary>
    public static int Version => Steps.Length;

    /// <summary>The statements that bring a database at <paramref name="version"/> - 1 to <paramref name="version"/>.</summary>
    public static string Migration(int version, SqlDialect dialect) => Steps[version - 1](dialect);
}
