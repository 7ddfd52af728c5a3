using Conductor.Core.Parsing;

namespace Conductor.Core.Tests;

public sealed class SbatchDirectivesTests
{
    [Fact]
    public void Parse_ReadsEveryForm_OfTheIssueExample()
    {
        var script = """
            #!/bin/bash
            #SBATCH --cpus-per-task=2 --time=1:00 --output=out-%j.txt
            #SBATCH -J analysis
            #SBATCH -A lab -p short
            #SBATCH -c4
            #SBATCH --mem 2G   # two gigabytes
            echo hello
            """;

        var result = SbatchDirectives.Parse(script);

        Assert.Empty(result.Errors);
        var o = result.Options;
        Assert.Equal(4, o.CpusPerTask);
        Assert.Equal("1:00", o.Time);
        Assert.Equal("out-%j.txt", o.Output);
        Assert.Equal("analysis", o.JobName);
        Assert.Equal("lab", o.Account);
        Assert.Equal("short", o.Partition);
        Assert.Equal("2G", o.Memory);
    }

    [Fact]
    public void Extract_StopsAtTheFirstCommand_AsSbatchDoes()
    {
        var script = "#!/bin/bash\n\n# a comment\n#SBATCH -c 2\necho start\n#SBATCH -c 8\n";

        var lines = SbatchDirectives.Extract(script);

        var (line, words) = Assert.Single(lines);
        Assert.Equal(4, line);
        Assert.Equal(["-c", "2"], words);
        Assert.Equal(2, SbatchDirectives.Parse(script).Options.CpusPerTask);
    }

    [Fact]
    public void Extract_IgnoresLookalikes_ThatAreNotDirectives()
    {
        var script = "#!/bin/bash\n#SBATCHX -c 2\n##SBATCH -c 3\n # SBATCH -c 4\n#SBATCH\t-n 2\r\n";

        var o = SbatchDirectives.Parse(script).Options;

        Assert.Null(o.CpusPerTask);
        Assert.Equal(2, o.Ntasks);
    }

    [Fact]
    public void Words_GroupsQuotes_AndDropsComments()
    {
        Assert.Equal(["--job-name", "my job", "-o", "a b.out"], SbatchDirectives.Words(" --job-name \"my job\" -o 'a b.out' # note"));
        Assert.Equal(["--comment=a#b"], SbatchDirectives.Words("--comment=a#b"));
    }

    [Fact]
    public void Parse_ReadsFlags_AndNumbers()
    {
        var o = SbatchDirectives.Parse("#SBATCH --exclusive --requeue -H --nice=5 -N 1-1 --ntasks-per-node 3 --begin now+1hour\n").Options;

        Assert.True(o.Exclusive);
        Assert.True(o.Requeue);
        Assert.True(o.Hold);
        Assert.Equal(5, o.Nice);
        Assert.Equal(1, o.Nodes);
        Assert.Equal(3, o.NtasksPerNode);
        Assert.Equal("now+1hour", o.Begin);
    }

    [Fact]
    public void Parse_ReadsKillOnInvalidDep_AsYesOrNo()
    {
        Assert.True(SbatchDirectives.Parse("#SBATCH --kill-on-invalid-dep=yes\n").Options.KillOnInvalidDep);
        Assert.False(SbatchDirectives.Parse("#SBATCH --kill-on-invalid-dep NO\n").Options.KillOnInvalidDep);
        Assert.True(SbatchDirectives.Parse("#SBATCH --kill-on-invalid-dep=yes\n").Options.ToSpecInput("x", "/", new Dictionary<string, string?>(), []).KillOnInvalidDependency);
        Assert.Equal("line 1: --kill-on-invalid-dep 'sure' must be yes or no", Assert.Single(SbatchDirectives.Parse("#SBATCH --kill-on-invalid-dep=sure\n").Errors));
    }

    [Fact]
    public void Parse_ReadsGpuRequests_IntoTheSpecFields()
    {
        var o = SbatchDirectives.Parse("#SBATCH --gres=gpu:a100:1\n#SBATCH -G 2\n#SBATCH --gpus-per-task 1\n").Options;

        Assert.Equal("gpu:a100:1", o.Gres);
        Assert.Equal(2, o.Gpus);
        Assert.Equal(1, o.GpusPerTask);
        var input = o.ToSpecInput("job", "/work", new Dictionary<string, string?>(), []);
        Assert.Equal(("gpu:a100:1", 2, 1), (input.Gres, input.Gpus, input.GpusPerTask));
    }

    [Theory]
    [InlineData("#SBATCH --gpus-per-node=2\n", "gpu:2")]
    [InlineData("#SBATCH --gres=gpu:a100:1\n#SBATCH --gpus-per-node 1\n", "gpu:a100:1,gpu:1")]
    public void Parse_TakesGpusPerNode_IntoTheGresList(string script, string gres)
    {
        var input = SbatchDirectives.Parse(script).Options.ToSpecInput("job", "/work", new Dictionary<string, string?>(), []);

        Assert.Equal((gres, (int?)null), (input.Gres, input.Gpus));
    }

    [Theory]
    [InlineData("#SBATCH --cpus-per-task=two", "--cpus-per-task 'two' is not a whole number")]
    [InlineData("#SBATCH --frobnicate", "--frobnicate is not an sbatch option")]
    [InlineData("#SBATCH --time", "--time needs a value")]
    [InlineData("#SBATCH -c", "--cpus-per-task needs a value")]
    [InlineData("#SBATCH cpus=2", "'cpus=2' is not an option")]
    public void Parse_ReportsTheLine_WhenADirectiveIsWrong(string line, string message)
    {
        var result = SbatchDirectives.Parse("#!/bin/bash\n" + line + "\n");

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("line 2: ", error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WarnsAndGoesOn_ForSlurmOptionsConductorDoesNotUse()
    {
        var result = SbatchDirectives.Parse("#SBATCH --mail-type=END --qos high -c 2\n");

        Assert.Empty(result.Errors);
        Assert.Equal(2, result.Warnings.Count);
        Assert.Equal(2, result.Options.CpusPerTask);
    }

    [Fact]
    public void Overlay_LetsTheCommandLineWin()
    {
        var script = new SbatchOptions { CpusPerTask = 2, Time = "1:00", JobName = "a", Memory = "1G" };
        var commandLine = new SbatchOptions { CpusPerTask = 8, MemoryPerCpu = "100M" };

        var merged = script.Overlay(commandLine);

        Assert.Equal(8, merged.CpusPerTask);
        Assert.Equal("1:00", merged.Time);
        Assert.Equal("a", merged.JobName);
        Assert.Equal("100M", merged.MemoryPerCpu);
        Assert.Null(merged.Memory);
    }

    [Fact]
    public void ToSpecInput_ResolvesChdirAgainstTheSubmitDirectory_AndNamesTheJob()
    {
        var input = new SbatchOptions { Chdir = "sub", CpusPerTask = 2, Time = "1:00" }
            .ToSpecInput("job.sh", "/home/ada", new Dictionary<string, string?>(), ["x", "y"]);

        Assert.Equal("job.sh", input.Name);
        Assert.Equal("/home/ada/sub", input.CurrentWorkingDirectory);
        Assert.Equal(2, input.CpusPerTask);
        Assert.Equal("1:00", input.TimeLimit);
        Assert.Equal(["x", "y"], input.Arguments);
    }

    [Fact]
    public void Export_PassesTheEnvironment_LessWithheldAndUnusableNames()
    {
        var env = new Dictionary<string, string> { ["HOME"] = "/h", ["CONDUCTOR_TOKEN"] = "secret", ["BASH_FUNC_f%%"] = "() { :; }", ["X"] = "1" };

        var all = SbatchExport.Resolve(null, env, ["CONDUCTOR_"]);
        Assert.Equal(["HOME", "X"], all.Keys);

        Assert.Empty(SbatchExport.Resolve("NONE", env, ["CONDUCTOR_"]));

        var some = SbatchExport.Resolve("HOME,DEBUG=1", env, ["CONDUCTOR_"]);
        Assert.Equal(new Dictionary<string, string?> { ["DEBUG"] = "1", ["HOME"] = "/h" }, some);

        var allPlus = SbatchExport.Resolve("ALL,X=2", env, ["CONDUCTOR_"]);
        Assert.Equal("2", allPlus["X"]);
        Assert.Equal("/h", allPlus["HOME"]);
    }
}
