using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>The conductor client commands end to end: the real executable against a real server.</summary>
[Collection("server")]
public sealed class CliTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private Cli NewCli() => new(fixture.Server, fixture.NewWorkDir());

    [Fact]
    public async Task Submit_ReadsSbatchLines_AndTheCommandLineWins()
    {
        var cli = NewCli();
        await File.WriteAllTextAsync(Path.Combine(cli.WorkDir, "job.sh"), """
            #!/bin/bash
            #SBATCH --cpus-per-task=2 --time=1:00 --output=out-%j.txt
            #SBATCH -J from-script
            #SBATCH --mem=100M   # a comment
            echo "args: $*"
            echo "cpus: $SLURM_CPUS_PER_TASK"
            echo "greeting: $GREETING"
            echo "token: ${CONDUCTOR_TOKEN:-none}"
            """);
        cli.Environment["GREETING"] = "hello";

        var submit = await cli.RunAsync("submit", "-J", "from-cli", "job.sh", "one", "-x", "--two");

        Assert.True(submit.Code == 0, submit.ToString());
        Assert.Matches(@"^Submitted batch job \d+\n$", submit.Stdout);
        var id = submit.Stdout.Trim().Split(' ')[^1];
        var job = await fixture.WaitForStateAsync(id, Soon, "COMPLETED", "FAILED");
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        var detail = job["detail"]!;
        Assert.Equal("from-cli", detail["name"]!.GetValue<string>());
        Assert.Equal(2, detail["cpus"]!.GetValue<int>());
        Assert.Equal("0:01:00", job["time"]!["limit"]!.GetValue<string>());
        Assert.Equal(100, detail["memory_mib"]!.GetValue<long>());
        Assert.Equal(cli.WorkDir, detail["work_dir"]!.GetValue<string>());
        Assert.Equal(["one", "-x", "--two"], detail["arguments"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.False(detail["environment"]!.AsObject().ContainsKey("CONDUCTOR_TOKEN"));

        var output = await File.ReadAllTextAsync(Path.Combine(cli.WorkDir, $"out-{id}.txt"));
        Assert.Equal("args: one -x --two\ncpus: 2\ngreeting: hello\ntoken: none\n", output);
    }

    [Fact]
    public async Task Queue_ShowsTheJob_WithItsCpus_AndJsonHasTheSameJob()
    {
        var cli = NewCli();
        var submit = await cli.RunAsync("submit", "--parsable", "--hold", "-c", "2", "-J", "queued-one", "--wrap", "true");
        Assert.True(submit.Code == 0, submit.ToString());
        var id = submit.Stdout.Trim();
        Assert.Matches(@"^\d+$", id);

        var queue = await cli.RunAsync("queue");
        Assert.True(queue.Code == 0, queue.ToString());
        var lines = queue.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["JOBID", "PARTITION", "NAME", "ACCOUNT", "ST", "TIME", "CPUS", "NODELIST(REASON)"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var row = lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(c => c[0] == id);
        Assert.Equal(["default", "queued-one"], row[1..3]);
        Assert.Equal(["PD", "0:00", "2", "(JobHeldUser)"], row[4..]);

        var json = await cli.RunAsync("queue", "--json", "--state", "PD");
        var jobs = JsonNode.Parse(json.Stdout)!["jobs"]!.AsArray();
        Assert.Contains(jobs, j => j!["job_id"]!.GetValue<string>() == id && j["detail"]!["cpus"]!.GetValue<int>() == 2);
        Assert.All(jobs, j => Assert.Equal("PENDING", j!["state"]!.GetValue<string>()));

        var mine = await cli.RunAsync("queue", "--me");
        Assert.Contains(mine.Stdout.Split('\n'), l => l.TrimStart().StartsWith(id + " ", StringComparison.Ordinal));

        Assert.Equal(0, (await cli.RunAsync("cancel", id)).Code);
    }

    [Fact]
    public async Task Cancel_CancelsARunningJob_AndSaysWhenAJobDoesNotExist()
    {
        var cli = NewCli();
        var id = (await cli.RunAsync("submit", "--parsable", "--wrap", "sleep 600")).Stdout.Trim();
        await fixture.WaitForStateAsync(id, Soon, "RUNNING");

        var cancel = await cli.RunAsync("cancel", id);
        Assert.True(cancel.Code == 0, cancel.ToString());
        Assert.Equal($"Cancelled job {id}\n", cancel.Stdout);
        Assert.Equal("CANCELLED", (await fixture.GetJobAsync(id))["state"]!.GetValue<string>());

        var again = await cli.RunAsync("cancel", id);
        Assert.Equal(0, again.Code);
        Assert.Contains("already ended", again.Stdout, StringComparison.Ordinal);

        var missing = await cli.RunAsync("cancel", "999999");
        Assert.Equal(2, missing.Code);
        Assert.Single(missing.Stderr.Trim().Split('\n'));
        Assert.Contains("999999", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LogsFollow_PrintsLinesAsTheyAreWritten_AndEndsWithTheJob()
    {
        var cli = NewCli();
        var marker = Path.Combine(cli.WorkDir, "go");
        var id = (await cli.RunAsync("submit", "--parsable", "--wrap",
            $"echo first line; while [ ! -e {marker} ]; do sleep 0.05; done; echo second line")).Stdout.Trim();

        await using var logs = cli.StartCollecting("logs", "-f", id);
        await Poll.UntilAsync(() => logs.Lines.Contains("first line"), Soon, "logs -f to print the first line");
        Assert.DoesNotContain("second line", logs.Lines);
        Assert.False(logs.HasExited);

        await File.WriteAllTextAsync(marker, "");
        await Poll.UntilAsync(() => logs.Lines.Contains("second line"), Soon, "logs -f to print the second line");
        await logs.WaitForExitAsync(Soon);
        Assert.Equal(0, logs.ExitCode);
        Assert.Equal(["first line", "second line"], logs.Lines);

        var plain = await cli.RunAsync("logs", id);
        Assert.Equal("first line\nsecond line\n", plain.Stdout);
    }

    [Fact]
    public async Task Logs_Stderr_ReadsTheErrorFile()
    {
        var cli = NewCli();
        var id = (await cli.RunAsync("submit", "--parsable", "-e", "err-%j.txt", "--wrap", "echo out; echo err >&2")).Stdout.Trim();
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");

        Assert.Equal("err\n", (await cli.RunAsync("logs", "--stderr", id)).Stdout);
        Assert.Equal("out\n", (await cli.RunAsync("logs", id)).Stdout);
    }

    [Theory]
    [InlineData("exit 0", 0)]
    [InlineData("exit 7", 7)]
    [InlineData("kill -9 $$", 128 + 9)]
    public async Task Wait_ExitsWithTheJobsExitCode(string command, int expected)
    {
        var cli = NewCli();
        var id = (await cli.RunAsync("submit", "--parsable", "--wrap", command)).Stdout.Trim();

        var wait = await cli.RunAsync("wait", id);

        Assert.True(wait.Code == expected, wait.ToString());
        Assert.StartsWith($"Job {id} ", wait.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wait_ForSeveral_IsZeroOnlyWhenAllCompleted()
    {
        var cli = NewCli();
        var ok1 = (await cli.RunAsync("submit", "--parsable", "--wrap", "true")).Stdout.Trim();
        var ok2 = (await cli.RunAsync("submit", "--parsable", "--wrap", "sleep 0.5")).Stdout.Trim();
        var bad = (await cli.RunAsync("submit", "--parsable", "--wrap", "exit 2")).Stdout.Trim();

        var good = await cli.RunAsync("wait", ok1, ok2);
        Assert.True(good.Code == 0, good.ToString());
        Assert.Contains("2 of 2 done", good.Stdout, StringComparison.Ordinal);

        var mixed = await cli.RunAsync("wait", ok1, bad);
        Assert.Equal(1, mixed.Code);
    }

    [Fact]
    public async Task ShowHistoryAndNodes_PrintTheirTables()
    {
        var cli = NewCli();
        var id = (await cli.RunAsync("submit", "--parsable", "-J", "shown", "--wrap", "echo hi")).Stdout.Trim();
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");

        var show = await cli.RunAsync("show", id);
        Assert.True(show.Code == 0, show.ToString());
        foreach (var expected in new[] { "JobName", "shown", "COMPLETED", "ExitCode", "0:0", "Timeline", "submitted", "scheduled", "finished", "e2e-node" })
        {
            Assert.Contains(expected, show.Stdout, StringComparison.Ordinal);
        }

        var showJson = JsonNode.Parse((await cli.RunAsync("show", "--json", id)).Stdout)!;
        Assert.Equal(id, showJson["job"]!["job_id"]!.GetValue<string>());
        Assert.NotEmpty(showJson["events"]!.AsArray());

        var history = await cli.RunAsync("history", "--limit", "1000");
        Assert.True(history.Code == 0, history.ToString());
        Assert.Equal(["JOBID", "JOBNAME", "PARTITION", "ACCOUNT", "ALLOCCPUS", "ELAPSED", "TOTALCPU", "MAXRSS", "STATE", "EXITCODE"],
            history.Stdout.Split('\n')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var row = history.Stdout.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(c => c.Length > 0 && c[0] == id);
        Assert.Equal(["COMPLETED", "0:0"], row[^2..]);

        var nodes = await cli.RunAsync("nodes");
        Assert.True(nodes.Code == 0, nodes.ToString());
        Assert.Contains("e2e-node", nodes.Stdout, StringComparison.Ordinal);
        Assert.Contains("/2", nodes.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_ComesFromTheDataDirectory_WhenNotGiven()
    {
        var cli = NewCli();
        cli.Environment["CONDUCTOR_TOKEN"] = null;
        cli.Environment["CONDUCTOR_DATA_DIR"] = fixture.Server.DataDirectory;

        var queue = await cli.RunAsync("queue");

        Assert.True(queue.Code == 0, queue.ToString());
    }

    [Theory]
    [InlineData(new[] { "submit", "--time", "abc", "--wrap", "true" }, 1, "--time")]
    [InlineData(new[] { "submit", "--mem", "16GB", "--wrap", "true" }, 1, "--mem")]
    [InlineData(new[] { "submit", "no-such-script.sh" }, 1, "no-such-script.sh")]
    [InlineData(new[] { "submit" }, 1, "--wrap")]
    [InlineData(new[] { "show", "999999" }, 2, "999999")]
    [InlineData(new[] { "show", "abc" }, 1, "abc")]
    [InlineData(new[] { "logs", "999999" }, 2, "999999")]
    [InlineData(new[] { "queue", "--state", "BOGUS" }, 1, "BOGUS")]
    public async Task Errors_AreOneSentenceAndTheRightExitCode(string[] args, int code, string named)
    {
        var result = await NewCli().RunAsync(args);

        Assert.True(result.Code == code, result.ToString());
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.StartsWith("conductor: ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(named, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_RefusesABadDirective_NamingItsLine()
    {
        var cli = NewCli();
        await File.WriteAllTextAsync(Path.Combine(cli.WorkDir, "bad.sh"), "#!/bin/bash\n#SBATCH --cpus-per-task=lots\ntrue\n");

        var result = await cli.RunAsync("submit", "bad.sh");

        Assert.Equal(1, result.Code);
        Assert.Contains("line 2", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_SayTheServerIsUnreachable_WithExitCode3()
    {
        var cli = NewCli();
        cli.Environment["CONDUCTOR_URL"] = "http://127.0.0.1:1";

        var result = await cli.RunAsync("queue");

        Assert.Equal(3, result.Code);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.Contains("cannot reach", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadToken_IsOneSentence()
    {
        var cli = NewCli();
        cli.Environment["CONDUCTOR_TOKEN"] = "not-the-token-at-all";

        var result = await cli.RunAsync("queue");

        Assert.Equal(1, result.Code);
        Assert.Contains("did not accept the token", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("submit", "--cpus-per-task")]
    [InlineData("submit", "--wrap")]
    [InlineData("submit", "--export")]
    [InlineData("queue", "--state")]
    [InlineData("show", "--json")]
    [InlineData("cancel", "ID")]
    [InlineData("logs", "--follow")]
    [InlineData("wait", "exit code")]
    [InlineData("history", "--limit")]
    [InlineData("nodes", "--server")]
    public async Task Help_DescribesEveryCommand(string command, string mentions)
    {
        var result = await NewCli().RunAsync(command, "--help");

        Assert.True(result.Code == 0, result.ToString());
        Assert.Contains(mentions, result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--server", result.Stdout, StringComparison.Ordinal);
    }
}
