namespace Conductor.Storage.Sqlite;

/// <summary>The schema as an ordered list of migrations; migration <c>i</c> brings the database to version <c>i + 1</c>.</summary>
internal static class Schema
{
    public static IReadOnlyList<string> Migrations { get; } =
    [
        """
        CREATE TABLE jobs (
            id                  INTEGER PRIMARY KEY AUTOINCREMENT,
            state               TEXT    NOT NULL,
            reason              TEXT,
            name                TEXT    NOT NULL,
            account             TEXT    NOT NULL,
            partition           TEXT    NOT NULL,
            cpus_per_task       INTEGER NOT NULL,
            ntasks              INTEGER NOT NULL,
            ntasks_per_node     INTEGER NOT NULL,
            memory_mib          INTEGER,
            time_limit_seconds  INTEGER,
            work_dir            TEXT    NOT NULL,
            stdout_pattern      TEXT    NOT NULL,
            stderr_pattern      TEXT,
            environment         TEXT    NOT NULL,
            arguments           TEXT    NOT NULL,
            exclusive           INTEGER NOT NULL,
            requeue             INTEGER NOT NULL,
            max_retries         INTEGER NOT NULL,
            nice                INTEGER NOT NULL,
            hold                INTEGER NOT NULL,
            begin_time          INTEGER,
            priority            INTEGER NOT NULL,
            submit_time         INTEGER NOT NULL,
            eligible_time       INTEGER,
            start_time          INTEGER,
            end_time            INTEGER,
            attempt             INTEGER NOT NULL DEFAULT 0,
            node                TEXT,
            cores               TEXT,
            exit_code           TEXT,
            error_msg           TEXT,
            stdout_path         TEXT,
            stderr_path         TEXT,
            pid                 INTEGER,
            pid_start_ticks     INTEGER,
            launched_time       INTEGER,
            cpu_seconds         REAL,
            max_rss_kib         INTEGER
        );

        -- The scheduler's pending scan: a partial index that holds only pending jobs and every column the
        -- snapshot reads, so a pass never touches the table or the (far more numerous) ended jobs.
        CREATE INDEX ix_jobs_pending ON jobs (
            priority DESC, submit_time, id, partition, ntasks, cpus_per_task, memory_mib, exclusive, hold,
            begin_time, time_limit_seconds, reason)
            WHERE state = 'PENDING';
        CREATE INDEX ix_jobs_state ON jobs (state);
        CREATE INDEX ix_jobs_account ON jobs (account, id);
        CREATE INDEX ix_jobs_partition ON jobs (partition, id);
        CREATE INDEX ix_jobs_node ON jobs (node, id);

        -- Scripts (up to megabytes each) live apart so that scans of jobs stay small.
        CREATE TABLE job_scripts (
            job_id  INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
            script  TEXT    NOT NULL
        );

        CREATE TABLE job_events (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            time    INTEGER NOT NULL,
            kind    TEXT    NOT NULL,
            detail  TEXT
        );

        CREATE INDEX ix_job_events_job ON job_events (job_id, seq);

        CREATE TABLE nodes (
            name             TEXT    PRIMARY KEY,
            cpus             INTEGER NOT NULL,
            memory_mib       INTEGER NOT NULL,
            partitions       TEXT    NOT NULL,
            state            TEXT    NOT NULL,
            state_reason     TEXT,
            last_heartbeat   INTEGER,
            address          TEXT,
            registered_time  INTEGER NOT NULL
        );

        CREATE TABLE allocations (
            job_id        INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
            node          TEXT    NOT NULL REFERENCES nodes (name),
            cores         TEXT    NOT NULL,
            cpus          INTEGER NOT NULL,
            memory_mib    INTEGER NOT NULL,
            exclusive     INTEGER NOT NULL,
            attempt       INTEGER NOT NULL,
            created_time  INTEGER NOT NULL
        );

        CREATE INDEX ix_allocations_node ON allocations (node);
        """,
        """
        ALTER TABLE nodes ADD COLUMN last_recovery TEXT;

        -- Retention deletes ended jobs by age.
        CREATE INDEX ix_jobs_ended ON jobs (end_time) WHERE state NOT IN ('PENDING', 'RUNNING');
        """,
        """
        -- The owner (the Unix user a job runs as) apart from the account, the charge label; older rows' owner was their account.
        ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
        UPDATE jobs SET owner = account;
        CREATE INDEX ix_jobs_owner ON jobs (owner, id);
        """,
    ];
}
