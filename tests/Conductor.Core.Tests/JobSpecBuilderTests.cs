using Conductor.Core.Jobs;

namespace Conductor.Core.Tests;

public sealed class JobSpecBuilderTests
{
    private const string Script = "#!/bin/bash\necho hello\n";
    private static readonly DateTimeOffset Now = new(2026, 1, 31, 12, 0, 0, TimeSpan.Zero);

    private static readonly SubmitDefaults Defaults = new()
    {
        Account = "alice",
        Now = Now,
        WorkDir = "/home/alice",
    };

    /// <summary>The body of the SCNS-Conductor hello-world example.</summary>
    private static readonly JobSpecInput Example = new()
    {
        Account = "my_project",
        CurrentWorkingDirectory = "/tmp",
        StandardOutput = "hello.out",
        StandardError = "hello.err",
        NtasksPerNode = 1,
        CpusPerTask = 1,
        MemoryPerNode = "1G",
        Name = "hello_world",
        TimeLimit = "5",
        Partition = "default",
        Exclusive = false,
    };

    private static JobSpec BuildOk(JobSpecInput input, SubmitDefaults? defaults = null, string script = Script)
    {
        var errors = new ValidationErrors();
        var spec = JobSpecBuilder.Build(input, script, defaults ?? Defaults, errors);
        Assert.True(errors.IsEmpty, errors.Summary());
        Assert.NotNull(spec);
        return spec;
    }

    private static IDictionary<string, string[]> BuildErrors(JobSpecInput input, SubmitDefaults? defaults = null, string? script = Script)
    {
        var errors = new ValidationErrors();
        var spec = JobSpecBuilder.Build(input, script, defaults ?? Defaults, errors);
        Assert.Null(spec);
        Assert.False(errors.IsEmpty);
        return errors.ToDictionary();
    }

    private static void AssertOnlyError(IDictionary<string, string[]> errors, string field)
    {
        Assert.Equal([field], errors.Keys);
        Assert.NotEmpty(errors[field][0]);
    }

    [Fact]
    public void Build_AppliesDefaults_WhenInputIsEmpty()
    {
        var spec = BuildOk(new JobSpecInput());

        Assert.Equal("script", spec.Name);
        Assert.Equal("alice", spec.Account);
        Assert.Equal("default", spec.Partition);
        Assert.Equal(1, spec.CpusPerTask);
        Assert.Equal(1, spec.Ntasks);
        Assert.Equal(1, spec.NtasksPerNode);
        Assert.Equal(1, spec.TotalCpus);
        Assert.Null(spec.MemoryMiB);
        Assert.Null(spec.TimeLimit);
        Assert.Equal("/home/alice", spec.WorkDir);
        Assert.Equal("slurm-%j.out", spec.StdoutPattern);
        Assert.Null(spec.StderrPattern);
        Assert.Empty(spec.Environment);
        Assert.Empty(spec.Arguments);
        Assert.False(spec.Exclusive);
        Assert.False(spec.Requeue);
        Assert.False(spec.Hold);
        Assert.Equal(0, spec.MaxRetries);
        Assert.Equal(0, spec.Nice);
        Assert.Equal(0, spec.Priority);
        Assert.Null(spec.Begin);
    }

    [Fact]
    public void Build_UsesSubmitDefaults_WhenTheyAreGiven()
    {
        var defaults = Defaults with
        {
            Name = "batch",
            Partition = "gpu",
            TimeLimit = TimeSpan.FromHours(1),
            MemoryPerCpuMiB = 2048,
        };

        var spec = BuildOk(new JobSpecInput { CpusPerTask = 2, Ntasks = 3 }, defaults);

        Assert.Equal("batch", spec.Name);
        Assert.Equal("gpu", spec.Partition);
        Assert.Equal(TimeSpan.FromHours(1), spec.TimeLimit);
        Assert.Equal(2048 * 6, spec.MemoryMiB);
    }

    [Fact]
    public void Build_ProducesExpectedSpec_WhenGivenScnsExampleBody()
    {
        var spec = BuildOk(Example);

        Assert.Equal("hello_world", spec.Name);
        Assert.Equal("my_project", spec.Account);
        Assert.Equal("default", spec.Partition);
        Assert.Equal("/tmp", spec.WorkDir);
        Assert.Equal("hello.out", spec.StdoutPattern);
        Assert.Equal("hello.err", spec.StderrPattern);
        Assert.Equal(1, spec.CpusPerTask);
        Assert.Equal(1, spec.Ntasks);
        Assert.Equal(1, spec.NtasksPerNode);
        Assert.Equal(1, spec.TotalCpus);
        Assert.Equal(1024, spec.MemoryMiB);
        Assert.Equal(TimeSpan.FromMinutes(5), spec.TimeLimit);
        Assert.False(spec.Exclusive);
    }

    [Fact]
    public void Build_CopiesOptionalFields_WhenGiven()
    {
        var spec = BuildOk(new JobSpecInput
        {
            Environment = new Dictionary<string, string?> { ["FOO"] = "bar", ["_X1"] = "" },
            Arguments = ["a", "b c"],
            Exclusive = true,
            Requeue = true,
            MaxRetries = 3,
            Nice = 100,
            Hold = true,
            CurrentWorkingDirectory = "/tmp/a/../b",
        });

        Assert.Equal("bar", spec.Environment["FOO"]);
        Assert.Equal("", spec.Environment["_X1"]);
        Assert.Equal(["a", "b c"], spec.Arguments);
        Assert.True(spec.Exclusive);
        Assert.True(spec.Requeue);
        Assert.Equal(3, spec.MaxRetries);
        Assert.Equal(100, spec.Nice);
        Assert.Equal(-100, spec.Priority);
        Assert.True(spec.Hold);
        Assert.Equal("/tmp/b", spec.WorkDir);
    }

    [Fact]
    public void Build_RefusesNegativeNice_UnlessTheCallerMayRaisePriority()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Nice = -5 }), "nice");
        Assert.Equal(-5, BuildOk(new JobSpecInput { Nice = -5 }, Defaults with { MayRaisePriority = true }).Nice);
    }

    [Theory]
    [InlineData("gpu:2", null, null, 1, "gpu:2")]
    [InlineData("gpu:a100:1", null, null, 1, "gpu:a100:1")]
    [InlineData(null, 3, null, 1, "gpu:3")]
    [InlineData(null, null, 2, 3, "gpu:6")]
    [InlineData("gpu:a100:1,gpu:1", 1, null, 1, "gpu:a100:1,gpu:2")]
    public void Build_CombinesGresGpusAndGpusPerTask(string? gres, int? gpus, int? perTask, int tasks, string expected)
    {
        var spec = BuildOk(new JobSpecInput { Gres = gres, Gpus = gpus, GpusPerTask = perTask, Ntasks = tasks });

        Assert.Equal(expected, spec.Gres.ToString());
        Assert.Equal((gpus, perTask), (spec.GpusPerJob, spec.GpusPerTask));
    }

    [Theory]
    [InlineData("gpu:0")]
    [InlineData("gpu:a100:x")]
    [InlineData("GPU:1")]
    [InlineData("gpu:1:2:3")]
    public void Build_NamesGres_WhenMalformed(string gres)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Gres = gres }), "gres");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(JobSpecBuilder.MaxCpus + 1)]
    public void Build_NamesCpusPerTask_WhenOutOfRange(int cpus)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { CpusPerTask = cpus }), "cpus_per_task");
    }

    [Fact]
    public void Build_NamesCpusPerTask_WhenTasksTimesCpusExceedMax()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { CpusPerTask = 64, Ntasks = 65 }), "cpus_per_task");
    }

    [Fact]
    public void Build_NamesMemoryPerNode_WhenSizeHasTwoLetterUnit()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { MemoryPerNode = "16GB" }), "memory_per_node");
    }

    [Fact]
    public void Build_NamesMemoryPerCpu_WhenSizeIsInvalid()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { MemoryPerCpu = "lots" }), "memory_per_cpu");
    }

    [Fact]
    public void Build_NamesMemoryPerCpu_WhenGivenWithMemoryPerNode()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { MemoryPerNode = "1G", MemoryPerCpu = "1G" }), "memory_per_cpu");
    }

    [Fact]
    public void Build_MultipliesMemoryPerCpu_WhenGivenWithTasksAndCpus()
    {
        var spec = BuildOk(new JobSpecInput { MemoryPerCpu = "512M", Ntasks = 2, CpusPerTask = 3 });

        Assert.Equal(512 * 6, spec.MemoryMiB);
    }

    [Fact]
    public void Build_PrefersExplicitMemory_WhenDefaultPerCpuIsSet()
    {
        var spec = BuildOk(new JobSpecInput { MemoryPerNode = "1G", CpusPerTask = 4 }, Defaults with { MemoryPerCpuMiB = 4096 });

        Assert.Equal(1024, spec.MemoryMiB);
    }

    [Fact]
    public void Build_NamesTimeLimit_WhenNotATime()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { TimeLimit = "abc" }), "time_limit");
    }

    [Fact]
    public void Build_NamesTimeLimit_WhenOverPartitionMaximum()
    {
        var defaults = Defaults with { MaxTimeLimit = TimeSpan.FromHours(1) };

        AssertOnlyError(BuildErrors(new JobSpecInput { TimeLimit = "61" }, defaults), "time_limit");
        AssertOnlyError(BuildErrors(new JobSpecInput { TimeLimit = "UNLIMITED" }, defaults), "time_limit");
        Assert.Equal(TimeSpan.FromHours(1), BuildOk(new JobSpecInput { TimeLimit = "60" }, defaults).TimeLimit);
    }

    [Fact]
    public void Build_OverridesDefaultTimeLimit_WhenInputIsUnlimited()
    {
        var spec = BuildOk(new JobSpecInput { TimeLimit = "UNLIMITED" }, Defaults with { TimeLimit = TimeSpan.FromHours(1) });

        Assert.Null(spec.TimeLimit);
    }

    [Fact]
    public void Build_UsesPartitionMaximum_WhenNoLimitIsAskedAndNoDefaultIsSet()
    {
        var spec = BuildOk(new JobSpecInput(), Defaults with { MaxTimeLimit = TimeSpan.FromHours(2) });

        Assert.Equal(TimeSpan.FromHours(2), spec.TimeLimit);
    }

    [Theory]
    [InlineData("tmp")]
    [InlineData("./work")]
    [InlineData("~/work")]
    [InlineData("")]
    [InlineData("/tmp/a\0b")]
    public void Build_NamesWorkingDirectory_WhenNotAbsolute(string dir)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { CurrentWorkingDirectory = dir }), "current_working_directory");
    }

    [Fact]
    public void Build_NamesWorkingDirectory_WhenMissingAndNoDefault()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput(), Defaults with { WorkDir = null }), "current_working_directory");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   \n\t ")]
    [InlineData("#!/bin/sh\necho \0")]
    public void Build_NamesScript_WhenEmptyOrWhitespaceOrHasNul(string? script)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput(), script: script), "script");
    }

    [Fact]
    public void Build_NamesScript_WhenLargerThanFourMiB()
    {
        var script = "#!/bin/sh\n" + new string('x', JobSpecBuilder.MaxScriptBytes);

        AssertOnlyError(BuildErrors(new JobSpecInput(), script: script), "script");
    }

    [Fact]
    public void Build_NamesScript_WhenUtf8BytesExceedFourMiB()
    {
        // Two bytes per character in UTF-8: under the limit in characters, over it in bytes.
        var script = new string('é', (JobSpecBuilder.MaxScriptBytes / 2) + 1);

        AssertOnlyError(BuildErrors(new JobSpecInput(), script: script), "script");
    }

    [Fact]
    public void Build_AcceptsScript_WhenExactlyFourMiB()
    {
        var script = "#!/bin/sh\n" + new string('x', JobSpecBuilder.MaxScriptBytes - 10);

        BuildOk(new JobSpecInput(), script: script);
    }

    [Theory]
    [InlineData("1FOO")]
    [InlineData("FOO-BAR")]
    [InlineData("FOO BAR")]
    [InlineData("")]
    [InlineData("A=B")]
    public void Build_NamesEnvironment_WhenVariableNameIsInvalid(string name)
    {
        var input = new JobSpecInput { Environment = new Dictionary<string, string?> { [name] = "x" } };

        AssertOnlyError(BuildErrors(input), "environment");
    }

    [Fact]
    public void Build_NamesEnvironment_WhenValueIsNull()
    {
        var input = new JobSpecInput { Environment = new Dictionary<string, string?> { ["FOO"] = null } };

        AssertOnlyError(BuildErrors(input), "environment");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0)]
    public void Build_NamesNodes_WhenNotOne(int nodes)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Nodes = nodes }), "nodes");
    }

    [Fact]
    public void Build_AcceptsNodes_WhenOne()
    {
        BuildOk(new JobSpecInput { Nodes = 1 });
    }

    [Fact]
    public void Build_KeepsTheArray_WhenGiven()
    {
        Assert.Equal("1-10%2", BuildOk(new JobSpecInput { Array = "1-10%2" }).Array!.ToString());
    }

    [Fact]
    public void Build_NamesArray_WhenItsStepIsZero()
    {
        var errors = BuildErrors(new JobSpecInput { Array = "1-10:0" });

        AssertOnlyError(errors, "array");
        Assert.Contains("step", errors["array"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Build_NamesDependency_WhenItsTypeIsUnknown()
    {
        var errors = BuildErrors(new JobSpecInput { Dependency = "afterwards:1" });

        AssertOnlyError(errors, "dependency");
        Assert.Contains("'afterwards' is not a dependency type", errors["dependency"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Build_NamesAccount_WhenFixedAccountDiffers()
    {
        var defaults = Defaults with { AccountIsFixed = true };

        var errors = BuildErrors(new JobSpecInput { Account = "bob" }, defaults);

        AssertOnlyError(errors, "account");
        Assert.Contains("'alice'", errors["account"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Build_AcceptsAccount_WhenFixedAccountMatchesOrIsOmitted()
    {
        var defaults = Defaults with { AccountIsFixed = true };

        Assert.Equal("alice", BuildOk(new JobSpecInput { Account = "alice" }, defaults).Account);
        Assert.Equal("alice", BuildOk(new JobSpecInput(), defaults).Account);
    }

    [Fact]
    public void Build_AcceptsOtherAccount_WhenAccountIsNotFixed()
    {
        Assert.Equal("bob", BuildOk(new JobSpecInput { Account = "bob" }).Account);
    }

    [Theory]
    [InlineData("bad account")]
    [InlineData("a/b")]
    [InlineData("")]
    public void Build_NamesAccount_WhenNotAPlainWord(string account)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Account = account }), "account");
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("two\nlines")]
    [InlineData("  ")]
    public void Build_NamesName_WhenNotAPrintableLine(string name)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Name = name }), "name");
    }

    [Theory]
    [InlineData("gpu nodes")]
    [InlineData("")]
    public void Build_NamesPartition_WhenNotAPlainWord(string partition)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Partition = partition }), "partition");
    }

    [Theory]
    [InlineData("%q.out", "standard_output")]
    [InlineData("out%", "standard_output")]
    public void Build_NamesStandardOutput_WhenPatternIsInvalid(string pattern, string field)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { StandardOutput = pattern }), field);
    }

    [Fact]
    public void Build_NamesStandardError_WhenPatternIsInvalid()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { StandardError = "%q" }), "standard_error");
    }

    [Theory]
    [InlineData(-10001)]
    [InlineData(10001)]
    public void Build_NamesNice_WhenOutOfRange(int nice)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Nice = nice }), "nice");
    }

    [Theory]
    [InlineData(-10000)]
    [InlineData(10000)]
    public void Build_AcceptsNice_WhenAtBounds(int nice)
    {
        Assert.Equal(nice, BuildOk(new JobSpecInput { Nice = nice }, Defaults with { MayRaisePriority = true }).Nice);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(101)]
    public void Build_NamesMaxRetries_WhenOutOfRange(int retries)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { MaxRetries = retries }), "max_retries");
    }

    [Theory]
    [InlineData("now+1hour", 3600)]
    [InlineData("now+1hours", 3600)]
    [InlineData("NOW+2H", 7200)]
    [InlineData("now+30", 30)]
    [InlineData("now+30seconds", 30)]
    [InlineData("now+5min", 300)]
    [InlineData("now+1day", 86400)]
    [InlineData("now", 0)]
    public void Build_ResolvesBeginRelativeToNow_WhenGivenNowPlus(string begin, int seconds)
    {
        var spec = BuildOk(new JobSpecInput { Begin = begin });

        Assert.Equal(Now.AddSeconds(seconds), spec.Begin);
    }

    [Theory]
    [InlineData("2026-01-31T18:00:00Z", "2026-01-31T18:00:00Z")]
    [InlineData("2026-01-31T18:00:00+02:00", "2026-01-31T16:00:00Z")]
    [InlineData("2026-01-31T18:00:00", "2026-01-31T18:00:00Z")]
    public void Build_ParsesBegin_WhenGivenIso8601(string begin, string expectedUtc)
    {
        var spec = BuildOk(new JobSpecInput { Begin = begin });

        Assert.Equal(DateTimeOffset.Parse(expectedUtc, System.Globalization.CultureInfo.InvariantCulture), spec.Begin);
    }

    [Theory]
    [InlineData("tomorrow")]
    [InlineData("now+")]
    [InlineData("now+1fortnight")]
    [InlineData("now+hour")]
    [InlineData("now-1hour")]
    [InlineData("now+3651days")]
    [InlineData("now+999999999days")]
    [InlineData("now+999999999hours")]
    [InlineData("now+1234567890")]
    public void Build_NamesBegin_WhenNotATime(string begin)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Begin = begin }), "begin");
    }

    [Fact]
    public void Build_NamesArguments_WhenAnArgumentHasNul()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Arguments = ["ok", "bad\0"] }), "arguments");
    }

    [Fact]
    public void Build_NamesArguments_WhenTheyAreTooLargeTogether()
    {
        var big = new string('a', 100 * 1024);
        AssertOnlyError(BuildErrors(new JobSpecInput { Arguments = [big, big, big] }), "arguments");
    }

    [Fact]
    public void Build_NamesEnvironment_WhenItIsTooLargeTogether()
    {
        var variables = Enumerable.Range(0, 20).ToDictionary(i => $"V{i}", _ => (string?)new string('x', 64 * 1024));
        AssertOnlyError(BuildErrors(new JobSpecInput { Environment = variables }), "environment");
    }

    [Fact]
    public void Build_UsesNtasks_WhenOnlyNtasksIsGiven()
    {
        var spec = BuildOk(new JobSpecInput { Ntasks = 4, CpusPerTask = 2 });

        Assert.Equal(4, spec.Ntasks);
        Assert.Equal(4, spec.NtasksPerNode);
        Assert.Equal(8, spec.TotalCpus);
    }

    [Fact]
    public void Build_UsesNtasksPerNode_WhenOnlyNtasksPerNodeIsGiven()
    {
        var spec = BuildOk(new JobSpecInput { NtasksPerNode = 3, CpusPerTask = 2 });

        Assert.Equal(3, spec.Ntasks);
        Assert.Equal(3, spec.NtasksPerNode);
        Assert.Equal(6, spec.TotalCpus);
    }

    [Fact]
    public void Build_UsesNtasks_WhenNtasksFitsInNtasksPerNode()
    {
        var spec = BuildOk(new JobSpecInput { Ntasks = 2, NtasksPerNode = 4 });

        Assert.Equal(2, spec.Ntasks);
        Assert.Equal(2, spec.TotalCpus);
    }

    [Fact]
    public void Build_NamesNtasks_WhenNtasksExceedsNtasksPerNode()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Ntasks = 4, NtasksPerNode = 2 }), "ntasks");
    }

    [Theory]
    [InlineData(0, "ntasks")]
    [InlineData(-3, "ntasks")]
    public void Build_NamesNtasks_WhenNotPositive(int ntasks, string field)
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { Ntasks = ntasks }), field);
    }

    [Fact]
    public void Build_NamesNtasksPerNode_WhenNotPositive()
    {
        AssertOnlyError(BuildErrors(new JobSpecInput { NtasksPerNode = 0 }), "ntasks_per_node");
    }

    [Fact]
    public void Build_ReportsEveryField_WhenSeveralAreInvalid()
    {
        var errors = BuildErrors(new JobSpecInput { CpusPerTask = 0, MemoryPerNode = "16GB", TimeLimit = "abc", Nodes = 2 }, script: "");

        Assert.Equal(
            new[] { "cpus_per_task", "memory_per_node", "nodes", "script", "time_limit" },
            errors.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("#!/bin/sh\necho hi\n", new[] { "/bin/sh" })]
    [InlineData("#!/usr/bin/env python3\nprint(1)\n", new[] { "/usr/bin/env", "python3" })]
    [InlineData("#!/usr/bin/env python3\n", new[] { "/usr/bin/env", "python3" })]
    [InlineData("#! /bin/bash -eu\n", new[] { "/bin/bash", "-eu" })]
    [InlineData("#!/usr/bin/env  python3 -u\r\n", new[] { "/usr/bin/env", "python3 -u" })]
    [InlineData("#!/bin/zsh", new[] { "/bin/zsh" })]
    [InlineData("echo hi\n", new[] { "/bin/bash" })]
    [InlineData("#!\necho hi\n", new[] { "/bin/bash" })]
    [InlineData(" #!/bin/sh\n", new[] { "/bin/bash" })]
    public void Interpreter_ReturnsShebangCommand_WhenScriptStartsWithOne(string script, string[] expected)
    {
        Assert.Equal(expected, JobSpecBuilder.Interpreter(script));
    }
}
