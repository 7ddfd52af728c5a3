using Conductor.Agent.Execution;
using Conductor.Core.Scheduling;

namespace Conductor.Agent.Tests;

public sealed class JobEnvironmentTests
{
    private static readonly Dictionary<string, string> AgentEnvironment = new()
    {
        ["PATH"] = "/agent/bin:/usr/bin",
        ["HOME"] = "/home/agent",
        ["LANG"] = "C.UTF-8",
        ["CONDUCTOR_TOKEN"] = "secret",
        ["CONDUCTOR_DB"] = "Host=db;Password=secret",
        ["PGPASSWORD"] = "secret",
        ["AWS_SECRET_ACCESS_KEY"] = "secret",
    };

    private static JobLaunch Launch(Func<JobLaunch, JobLaunch>? customize = null) => Jobs.Launch("/data/work", "echo", customize);

    [Fact]
    public void Build_KeepsOnlyWhitelistedAgentVariables_WhenAgentHoldsSecrets()
    {
        var env = JobEnvironment.Build(Launch(), AgentEnvironment);

        Assert.Equal("/agent/bin:/usr/bin", env["PATH"]);
        Assert.Equal("/home/agent", env["HOME"]);
        Assert.Equal("C.UTF-8", env["LANG"]);
        Assert.DoesNotContain("CONDUCTOR_TOKEN", env.Keys);
        Assert.DoesNotContain("CONDUCTOR_DB", env.Keys);
        Assert.DoesNotContain("PGPASSWORD", env.Keys);
        Assert.DoesNotContain("AWS_SECRET_ACCESS_KEY", env.Keys);
        Assert.DoesNotContain(env.Values, v => v.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_DescribesTheArrayTask_WithSlurmsArrayVariables()
    {
        var env = JobEnvironment.Build(
            Launch(l =>
            {
                var task = l.WithSpec(s => s with { Array = Core.Jobs.JobArraySpec.Parse("1-9:2%2") });
                return task with { Job = task.Job with { Id = new Core.Jobs.JobId(130), ArrayJobId = new Core.Jobs.JobId(123), ArrayTaskId = 7 } };
            }),
            AgentEnvironment);

        Assert.Equal("130", env["SLURM_JOB_ID"]);
        Assert.Equal("123", env["SLURM_ARRAY_JOB_ID"]);
        Assert.Equal("7", env["SLURM_ARRAY_TASK_ID"]);
        Assert.Equal("5", env["SLURM_ARRAY_TASK_COUNT"]);
        Assert.Equal("1", env["SLURM_ARRAY_TASK_MIN"]);
        Assert.Equal("9", env["SLURM_ARRAY_TASK_MAX"]);
        Assert.Equal("2", env["SLURM_ARRAY_TASK_STEP"]);
        Assert.Equal("7", env["CONDUCTOR_ARRAY_TASK_ID"]);
    }

    [Fact]
    public void Build_LeavesArrayVariablesOut_ForAJobOutsideArrays() =>
        Assert.DoesNotContain("SLURM_ARRAY_TASK_ID", JobEnvironment.Build(Launch(), AgentEnvironment).Keys);

    [Fact]
    public void Build_ListsTheJobsGpus_ForCudaAndSlurm()
    {
        var env = JobEnvironment.Build(
            Launch(l => l with { Job = l.Job with { Devices = [new GresDevice("gpu", 1), new GresDevice("gpu", 3)] } }),
            AgentEnvironment);

        Assert.Equal("1,3", env["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal("1,3", env["GPU_DEVICE_ORDINAL"]);
        Assert.Equal("1,3", env["SLURM_JOB_GPUS"]);
        Assert.Equal("1,3", env["CONDUCTOR_JOB_GPUS"]);
    }

    [Fact]
    public void Build_LeavesGpuVariablesAlone_WhenTheJobAsksForNoGpus()
    {
        var env = JobEnvironment.Build(
            Launch(l => l.WithSpec(s => s with { Environment = new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = "0,1" } })),
            AgentEnvironment);

        Assert.Equal("0,1", env["CUDA_VISIBLE_DEVICES"]);
        Assert.DoesNotContain("SLURM_JOB_GPUS", env.Keys);
    }

    [Fact]
    public void Build_UsesDefaultPath_WhenAgentHasNoPath()
    {
        var env = JobEnvironment.Build(Launch(), new Dictionary<string, string>());

        Assert.Equal(JobEnvironment.DefaultPath, env["PATH"]);
    }

    [Fact]
    public void Build_LetsSubmittedVariablesOverrideAgentVariables_WhenBothSet()
    {
        var env = JobEnvironment.Build(
            Launch(l => l.WithSpec(s => s with { Environment = new Dictionary<string, string> { ["PATH"] = "/job/bin", ["MINE"] = "1" } })),
            AgentEnvironment);

        Assert.Equal("/job/bin", env["PATH"]);
        Assert.Equal("1", env["MINE"]);
    }

    [Fact]
    public void Build_LetsJobVariablesOverrideSubmittedVariables_WhenSubmitterSetsThem()
    {
        var env = JobEnvironment.Build(
            Launch(l => l.WithSpec(s => s with { Environment = new Dictionary<string, string> { ["SLURM_JOB_ID"] = "fake", ["PWD"] = "/elsewhere" } })),
            AgentEnvironment);

        Assert.NotEqual("fake", env["SLURM_JOB_ID"]);
        Assert.Equal("/data/work", env["PWD"]);
    }

    [Fact]
    public void Build_SetsSlurmAndConductorVariables_WhenJobIsDescribed()
    {
        var launch = Launch(l => (l with { Job = l.Job with { Attempt = 3 } }).WithSpec(s => s with
        {
            Name = "train",
            Account = "physics",
            Partition = "gpu",
            CpusPerTask = 4,
            Ntasks = 2,
            MemoryMiB = 2048,
        }));

        var env = JobEnvironment.Build(launch, AgentEnvironment);

        foreach (var prefix in new[] { "SLURM_", "CONDUCTOR_" })
        {
            Assert.Equal(launch.JobId.ToString(), env[prefix + "JOB_ID"]);
            Assert.Equal("train", env[prefix + "JOB_NAME"]);
            Assert.Equal("physics", env[prefix + "JOB_ACCOUNT"]);
            Assert.Equal("physics", env[prefix + "JOB_USER"]);
            Assert.Equal("gpu", env[prefix + "JOB_PARTITION"]);
            Assert.Equal("node1", env[prefix + "JOB_NODELIST"]);
            Assert.Equal("4", env[prefix + "CPUS_PER_TASK"]);
            Assert.Equal("2", env[prefix + "NTASKS"]);
            Assert.Equal("8", env[prefix + "JOB_CPUS_PER_NODE"]);
            Assert.Equal("2048", env[prefix + "MEM_PER_NODE"]);
            Assert.Equal("/data/work", env[prefix + "SUBMIT_DIR"]);
            Assert.Equal("2", env[prefix + "RESTART_COUNT"]);
            Assert.Equal("8", env[prefix + "CPUS_ON_NODE"]);
            Assert.Equal("1", env[prefix + "JOB_NUM_NODES"]);
            Assert.Equal(launch.JobId.ToString(), env[prefix + "JOBID"]);
        }

        Assert.Equal("/data/work", env["PWD"]);
    }

    [Fact]
    public void Build_OmitsMemory_WhenJobAskedForNone()
    {
        var env = JobEnvironment.Build(Launch(l => l.WithSpec(s => s with { MemoryMiB = null })), AgentEnvironment);

        Assert.DoesNotContain("SLURM_MEM_PER_NODE", env.Keys);
        Assert.DoesNotContain("CONDUCTOR_MEM_PER_NODE", env.Keys);
    }

    [Fact]
    public void Build_SetsRestartCountZero_WhenFirstAttempt()
    {
        var env = JobEnvironment.Build(Launch(l => l with { Job = l.Job with { Attempt = 1 } }), AgentEnvironment);

        Assert.Equal("0", env["SLURM_RESTART_COUNT"]);
    }

    [Fact]
    public void Build_PutsTheCommandsDirectoryFirstOnPath_WhateverPathTheJobBrought()
    {
        var env = JobEnvironment.Build(
            Launch(l => l.WithSpec(s => s with { Environment = new Dictionary<string, string> { ["PATH"] = "/job/bin:/srv/conductor/bin" } })),
            AgentEnvironment,
            "/srv/conductor/bin");

        Assert.Equal("/srv/conductor/bin:/job/bin", env["PATH"]);
    }

    [Fact]
    public void Build_NamesTheJobDirectory_WhenGiven()
    {
        var env = JobEnvironment.Build(Launch(), AgentEnvironment, jobDirectory: "/data/scripts/job-7-1");

        Assert.Equal("/data/scripts/job-7-1", env["CONDUCTOR_JOB_DIR"]);
    }
}
