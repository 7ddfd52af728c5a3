using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>Dependencies and holds through the real server and the real CLI, as the issue's acceptance tells them.</summary>
[Collection("server")]
public sealed class DependencyTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private Cli NewCli() => new(fixture.Server, fixture.NewWorkDir());

    private static async Task<string> SubmitAsync(Cli cli, params string[] args)
    {
        var result = await cli.RunAsync(["submit", "--parsable", .. args]);
        Assert.True(result.Code == 0, result.ToString());
        return result.Stdout.Trim();
    }

    private static string? Text(JsonNode job, params string[] path)
    {
        JsonNode? node = job;
        foreach (var name in path)
        {
            node = node?[name];
        }

        return node?.GetValue<string>();
    }

    private static DateTimeOffset Time(JsonNode job, string name) => job["time"]![name]!.GetValue<DateTimeOffset>();

    private Task<JsonNode> WaitForReasonAsync(string id, string reason) =>
        Poll.UntilAsync(() => fixture.GetJobAsync(id), j => Text(j, "reason") == reason, Soon, $"job {id} to wait with reason {reason}");

    [Fact]
    public async Task Dependencies_OnAJobThatExits1_AfterOkIsNeverSatisfied_AfterNotOkAndAfterAnyRun()
    {
        var cli = NewCli();
        var failing = await SubmitAsync(cli, "--wrap", "exit 1");
        var ok = await SubmitAsync(cli, "--dependency", $"afterok:{failing}", "--wrap", "true");
        var notOk = await SubmitAsync(cli, "-d", $"afternotok:{failing}", "--wrap", "true");
        var any = await SubmitAsync(cli, $"--dependency=afterany:{failing}", "--wrap", "true");

        Assert.Equal("COMPLETED", Text(await fixture.WaitForStateAsync(notOk, Soon, "COMPLETED", "FAILED"), "state"));
        Assert.Equal("COMPLETED", Text(await fixture.WaitForStateAsync(any, Soon, "COMPLETED", "FAILED"), "state"));
        Assert.Equal("FAILED", Text(await fixture.GetJobAsync(failing), "state"));
        var never = await WaitForReasonAsync(ok, "DependencyNeverSatisfied");
        Assert.Equal("PENDING", Text(never, "state"));
        Assert.Equal($"afterok:{failing}(failed)", Text(never, "detail", "dependency"));

        // A met dependency is forgotten, as Slurm shows "(null)" after.
        Assert.Null(Text(await fixture.GetJobAsync(any), "detail", "dependency"));
        var show = await cli.RunAsync("show", ok);
        Assert.Contains($"afterok:{failing}(failed)", show.Stdout, StringComparison.Ordinal);
        var squeue = await cli.RunAsync("slurm", "squeue", "-h", "-j", ok, "-o", "%i %r %E");
        Assert.Equal($"{ok} DependencyNeverSatisfied afterok:{failing}(failed)", squeue.Stdout.Trim());

        Assert.Equal(0, (await cli.RunAsync("cancel", ok)).Code);
    }

    [Fact]
    public async Task Chain_OfThreeAfterOkJobs_RunsInOrder()
    {
        var cli = NewCli();
        var first = await SubmitAsync(cli, "--wrap", "sleep 0.2");
        var second = await SubmitAsync(cli, "-d", $"afterok:{first}", "--wrap", "sleep 0.2");
        var third = await SubmitAsync(cli, "-d", $"afterok:{second}", "--wrap", "true");

        var last = await fixture.WaitForStateAsync(third, Soon, "COMPLETED", "FAILED", "CANCELLED");
        Assert.Equal("COMPLETED", Text(last, "state"));
        var a = await fixture.GetJobAsync(first);
        var b = await fixture.GetJobAsync(second);
        Assert.Equal(("COMPLETED", "COMPLETED"), (Text(a, "state"), Text(b, "state")));
        Assert.True(Time(a, "end") <= Time(b, "start"), $"{first} ended at {Time(a, "end"):O}, {second} started at {Time(b, "start"):O}");
        Assert.True(Time(b, "end") <= Time(last, "start"), $"{second} ended at {Time(b, "end"):O}, {third} started at {Time(last, "start"):O}");
    }

    [Fact]
    public async Task After_StartsTheJobOnceItsTargetStarted_WhileTheTargetStillRuns()
    {
        var cli = NewCli();
        var target = await SubmitAsync(cli, "--hold", "--wrap", "sleep 5");
        var follower = await SubmitAsync(cli, "-d", $"after:{target}", "--wrap", "true");
        await WaitForReasonAsync(follower, "Dependency");
        Assert.Equal(0, (await cli.RunAsync("release", target)).Code);

        var done = await fixture.WaitForStateAsync(follower, TimeSpan.FromSeconds(4), "COMPLETED", "FAILED");
        Assert.Equal("COMPLETED", Text(done, "state"));
        Assert.Equal("RUNNING", Text(await fixture.GetJobAsync(target), "state"));
        Assert.Equal(0, (await cli.RunAsync("cancel", target)).Code);
    }

    [Fact]
    public async Task AfterOk_OnAnArray_WaitsForEveryTask()
    {
        var cli = NewCli();
        var array = await SubmitAsync(cli, "--array", "1-3", "--wrap", "sleep 0.3");
        var after = await SubmitAsync(cli, "-d", $"afterok:{array}", "--wrap", "true");

        var done = await fixture.WaitForStateAsync(after, Soon, "COMPLETED", "FAILED", "CANCELLED");
        Assert.Equal("COMPLETED", Text(done, "state"));
        foreach (var task in new[] { 1, 2, 3 })
        {
            var ended = await fixture.GetJobAsync($"{array}_{task}");
            Assert.Equal("COMPLETED", Text(ended, "state"));
            Assert.True(Time(ended, "end") <= Time(done, "start"), $"task {task} ended at {Time(ended, "end"):O}, {after} started at {Time(done, "start"):O}");
        }
    }

    [Fact]
    public async Task AfterCorr_StartsEachTaskAfterItsOwnPairCompleted_AndNeverOneWhosePairFailed()
    {
        var cli = NewCli();
        var first = await SubmitAsync(cli, "--hold", "--array", "1-3", "--wrap", "sleep 0.2; test $SLURM_ARRAY_TASK_ID -ne 2");
        var second = await SubmitAsync(cli, "--array", "1-4", "-d", $"aftercorr:{first}", "--wrap", "true");
        await WaitForReasonAsync(second, "Dependency");
        Assert.Equal(0, (await cli.RunAsync("release", first)).Code);

        foreach (var task in new[] { 1, 3 })
        {
            var done = await fixture.WaitForStateAsync($"{second}_{task}", Soon, "COMPLETED", "FAILED", "CANCELLED");
            Assert.Equal("COMPLETED", Text(done, "state"));
            var pair = await fixture.GetJobAsync($"{first}_{task}");
            Assert.Equal("COMPLETED", Text(pair, "state"));
            Assert.True(Time(pair, "end") <= Time(done, "start"), $"{first}_{task} ended at {Time(pair, "end"):O}, {second}_{task} started at {Time(done, "start"):O}");
        }

        // Task 2's pair failed; the first array has no task 4, so task 4 waited for all of it, which failed too.
        Assert.Equal("FAILED", Text(await fixture.GetJobAsync($"{first}_2"), "state"));
        foreach (var task in new[] { 2, 4 })
        {
            var never = await WaitForReasonAsync($"{second}_{task}", "DependencyNeverSatisfied");
            Assert.Equal("PENDING", Text(never, "state"));
        }

        Assert.Equal($"aftercorr:{first}(failed)", Text(await fixture.GetJobAsync($"{second}_2"), "detail", "dependency"));
        Assert.Equal(0, (await cli.RunAsync("cancel", second)).Code);
    }

    [Fact]
    public async Task KillOnInvalidDep_Yes_OnOneJob_CancelsIt_ThoughTheServerKeepsSuchJobs()
    {
        var cli = NewCli();
        var failing = await SubmitAsync(cli, "--wrap", "exit 1");
        var killed = await SubmitAsync(cli, "-d", $"afterok:{failing}", "--kill-on-invalid-dep", "yes", "--wrap", "true");
        await File.WriteAllTextAsync(Path.Combine(cli.WorkDir, "dep.sh"), $"#!/bin/sh\n#SBATCH --kill-on-invalid-dep=yes\n#SBATCH -d afterok:{failing}\ntrue\n");
        var sbatched = await cli.RunAsync("slurm", "sbatch", "--parsable", "dep.sh");
        Assert.True(sbatched.Code == 0 && sbatched.Stderr == "", sbatched.ToString());
        var kept = await SubmitAsync(cli, "-d", $"afterok:{failing}", "--wrap", "true");

        foreach (var id in new[] { killed, sbatched.Stdout.Trim() })
        {
            var job = await fixture.WaitForStateAsync(id, Soon, "CANCELLED", "COMPLETED");
            Assert.Equal("CANCELLED", Text(job, "state"));
        }

        Assert.Equal("PENDING", Text(await WaitForReasonAsync(kept, "DependencyNeverSatisfied"), "state"));
        var bad = await cli.RunAsync("submit", "--kill-on-invalid-dep", "maybe", "--wrap", "true");
        Assert.True(bad.Code == 1 && bad.Stderr.Contains("--kill-on-invalid-dep 'maybe' must be yes or no", StringComparison.Ordinal), bad.ToString());
        Assert.Equal(0, (await cli.RunAsync("cancel", kept)).Code);
    }

    [Fact]
    public async Task Hold_KeepsAJobPendingWithJobHeldUser_UntilReleased()
    {
        var cli = NewCli();
        var id = await SubmitAsync(cli, "--hold", "--wrap", "true");
        await WaitForReasonAsync(id, "JobHeldUser");
        var sbatched = await cli.RunAsync("slurm", "sbatch", "--parsable", "-H", "--wrap", "true");
        Assert.True(sbatched.Code == 0, sbatched.ToString());
        await WaitForReasonAsync(sbatched.Stdout.Trim(), "JobHeldUser");

        var release = await cli.RunAsync("release", id);
        Assert.True(release.Code == 0, release.ToString());
        Assert.Equal($"Released job {id}", release.Stdout.Trim());
        Assert.Equal("COMPLETED", Text(await fixture.WaitForStateAsync(id, Soon, "COMPLETED", "FAILED"), "state"));
        var events = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray();
        Assert.Contains(events, e => Text(e!, "kind") == "released");

        // scontrol holds and releases as well; a job that is no longer pending can be neither.
        Assert.Equal(0, (await cli.RunAsync("slurm", "scontrol", "release", sbatched.Stdout.Trim())).Code);
        var late = await cli.RunAsync("hold", id);
        Assert.Equal(1, late.Code);
        Assert.Contains("no longer pending", late.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hold_ByTheCli_IsUndoneByRelease_AndHoldsAgainWithHold()
    {
        var cli = NewCli();
        var id = await SubmitAsync(cli, "--begin", "now+1hour", "--wrap", "true");

        Assert.Equal($"Held job {id}", (await cli.RunAsync("hold", id)).Stdout.Trim());
        Assert.Equal($"Job {id} was already held", (await cli.RunAsync("hold", id)).Stdout.Trim());
        await WaitForReasonAsync(id, "JobHeldUser");
        Assert.Equal($"Released job {id}", (await cli.RunAsync("release", id)).Stdout.Trim());
        await WaitForReasonAsync(id, "BeginTime");
        Assert.Equal(0, (await cli.RunAsync("cancel", id)).Code);
    }

    [Theory]
    [InlineData("afterwards:1", "is not a dependency type")]
    [InlineData("afterok:99999999", "names job 99999999, which does not exist or is not yours")]
    [InlineData("afterok:1,afterany:1?after:1", "not both")]
    [InlineData("afterok:1+5", "only after takes a delay")]
    public async Task Submit_RefusesABadDependency_With400NamingTheField(string dependency, string message)
    {
        var response = await fixture.Client.PostAsJsonAsync("/api/v1/jobs", new JsonObject
        {
            ["job"] = new JsonObject { ["current_working_directory"] = fixture.NewWorkDir(), ["dependency"] = dependency },
            ["script"] = "#!/bin/sh\ntrue\n",
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Contains(message, problem["errors"]!["job.dependency"]![0]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChangingADependency_ToItselfOrACycle_Is400NamingTheField()
    {
        var cli = NewCli();
        var a = await SubmitAsync(cli, "--hold", "--wrap", "true");
        var b = await SubmitAsync(cli, "-d", $"afterok:{a}", "--wrap", "true");

        async Task<(HttpStatusCode Status, JsonNode Body)> ChangeAsync(string id, string dependency)
        {
            var response = await fixture.Client.PostAsJsonAsync($"/api/v1/jobs/{id}/dependency", new JsonObject { ["dependency"] = dependency });
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
        }

        var self = await ChangeAsync(a, $"afterok:{a}");
        Assert.Equal(HttpStatusCode.BadRequest, self.Status);
        Assert.Contains("itself", self.Body["errors"]!["dependency"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        var cycle = await ChangeAsync(a, $"afterany:{b}");
        Assert.Equal(HttpStatusCode.BadRequest, cycle.Status);
        Assert.Contains("a cycle", cycle.Body["errors"]!["dependency"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        var update = await cli.RunAsync("update", a, "--dependency", $"afterok:{b}");
        Assert.Equal(1, update.Code);
        Assert.Contains("would make job", update.Stderr, StringComparison.Ordinal);
        var kind = await ChangeAsync(b, "afterall:1");
        Assert.Equal(HttpStatusCode.BadRequest, kind.Status);
        Assert.Contains("not a dependency type", kind.Body["errors"]!["dependency"]![0]!.GetValue<string>(), StringComparison.Ordinal);

        // Removing the dependency lets the job run at once.
        var removed = await ChangeAsync(b, "");
        Assert.Equal(HttpStatusCode.OK, removed.Status);
        Assert.Equal("COMPLETED", Text(await fixture.WaitForStateAsync(b, Soon, "COMPLETED", "FAILED"), "state"));
        Assert.Equal(0, (await cli.RunAsync("cancel", a)).Code);
    }

    [Fact]
    public async Task Submit_FromTheCli_NamesTheDependencyOption_WhenItIsBad()
    {
        var result = await NewCli().RunAsync("submit", "-d", "afterok:99999999", "--wrap", "true");

        Assert.Equal(1, result.Code);
        Assert.StartsWith("conductor: --dependency names job 99999999", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillOnInvalidDep_CancelsAJobWhoseDependencyCanNeverBeMet()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--kill-on-invalid-dep");
        using var client = server.CreateClient();
        var cli = new Cli(server, server.WorkDirectory);
        var failing = await SubmitAsync(cli, "--wrap", "exit 3");
        var dependent = await SubmitAsync(cli, "-d", $"afterok:{failing}", "--wrap", "true");
        var second = await SubmitAsync(cli, "-d", $"afterok:{dependent}", "--wrap", "true");
        var spared = await SubmitAsync(cli, "-d", $"afterok:{failing}", "--kill-on-invalid-dep=no", "--wrap", "true");

        foreach (var id in new[] { dependent, second })
        {
            var job = await Poll.UntilAsync(async () => JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!,
                j => Text(j, "state") != "PENDING", Soon, $"job {id} to be cancelled");
            Assert.Equal("CANCELLED", Text(job, "state"));
            Assert.Null(job["time"]!["start"]);
            var events = JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray();
            Assert.Contains(events, e => Text(e!, "detail")?.Contains("dependency can never be satisfied", StringComparison.Ordinal) == true);
        }

        // The job's own --kill-on-invalid-dep=no wins over the server's.
        var left = await Poll.UntilAsync(async () => JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{spared}"))!,
            j => Text(j, "reason") == "DependencyNeverSatisfied", Soon, $"job {spared} to wait for good");
        Assert.Equal("PENDING", Text(left, "state"));
    }
}
