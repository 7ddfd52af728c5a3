using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Conductor.EndToEnd.Tests.Slurm;

namespace Conductor.EndToEnd.Tests;

/// <summary>Updating, signalling, cancelling by filter and requeueing jobs, through the real CLI and Slurm's commands.</summary>
[Collection("server")]
public sealed class JobControlTests(ServerFixture fixture)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private Cli NewCli() => new(fixture.Server, fixture.NewWorkDir());

    private static async Task<string> SubmitAsync(Cli cli, params string[] args)
    {
        var submit = await cli.RunAsync(["submit", "--parsable", .. args]);
        Assert.True(submit.Code == 0, submit.ToString());
        return submit.Stdout.Trim();
    }

    [Fact]
    public async Task Update_ChangesAPendingJob_AsValidatedAtSubmit_AndRefusesBadFieldsByName()
    {
        var cli = NewCli();
        var id = await SubmitAsync(cli, "--hold", "-J", "to-update", "--time", "10", "--wrap", "true");

        var update = await cli.RunAsync("update", id, "--time", "5", "--nice", "7", "--name", "updated", "-c", "2", "--mem", "200M");

        Assert.True(update.Code == 0, update.ToString());
        var job = await fixture.GetJobAsync(id);
        var detail = job["detail"]!;
        Assert.Equal(("updated", 2, 7, 200L), (detail["name"]!.GetValue<string>(), detail["cpus"]!.GetValue<int>(),
            detail["nice"]!.GetValue<int>(), detail["memory_mib"]!.GetValue<long>()));
        Assert.Equal("0:05:00", job["time"]!["limit"]!.GetValue<string>());
        var events = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray();
        Assert.Contains(events, e => e!["kind"]!.GetValue<string>() == "updated" && e["detail"]!.GetValue<string>().Contains("time_limit 0:10:00 → 0:05:00", StringComparison.Ordinal));

        foreach (var (args, option) in new[]
                 {
                     (new[] { "--time", "soon" }, "--time"), (["--partition", "nowhere"], "--partition"), (["--mem", "lots"], "--mem"),
                     (["--dependency", "afterok:999999"], "--dependency"), (["--dependency", $"afterok:{id}"], "--dependency"),
                 })
        {
            var refused = await cli.RunAsync(["update", id, .. args]);
            Assert.True(refused.Code == 1 && refused.Stderr.Contains(option, StringComparison.Ordinal), refused.ToString());
        }

        var first = await SubmitAsync(cli, "--hold", "--wrap", "true");
        var depends = await cli.RunAsync("update", id, "--dependency", $"afterok:{first}");
        Assert.True(depends.Code == 0, depends.ToString());
        Assert.Contains($"afterok:{first}", (await fixture.GetJobAsync(id)).ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(0, (await cli.RunAsync("cancel", first)).Code);

        var response = await fixture.Client.PostAsJsonAsync($"/api/v1/jobs/{id}/update", new { cpus_per_task = 0 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]!.AsObject().ContainsKey("cpus_per_task"));

        var sh = await SlurmShell.CreateAsync(fixture.Server, cli.WorkDir);
        var scontrol = await sh.RunAsync($"scontrol update JobId={id} TimeLimit=3 Name=from-scontrol Nice=1");
        Assert.True(scontrol.Code == 0 && scontrol.Stdout == "" && scontrol.Stderr == "", scontrol.ToString());
        job = await fixture.GetJobAsync(id);
        Assert.Equal(("from-scontrol", "0:03:00"), (job["detail"]!["name"]!.GetValue<string>(), job["time"]!["limit"]!.GetValue<string>()));
        Assert.Equal(0, (await cli.RunAsync("cancel", id)).Code);
    }

    [Fact]
    public async Task Update_LoweringARunningJobsTimeLimit_EndsItTimeout()
    {
        var cli = NewCli();
        var id = await SubmitAsync(cli, "--time", "10", "--wrap", "sleep 60");
        await fixture.WaitForStateAsync(id, Soon, "RUNNING");

        var update = await cli.RunAsync("update", id, "--time", "0:01");

        Assert.True(update.Code == 0, update.ToString());
        var job = await fixture.WaitForStateAsync(id, Soon, "TIMEOUT", "COMPLETED", "FAILED", "CANCELLED");
        Assert.Equal("TIMEOUT", job["state"]!.GetValue<string>());
        Assert.Contains("time limit of 0:01 was reached", job["error_msg"]!.GetValue<string>(), StringComparison.Ordinal);
        var refused = await cli.RunAsync("update", id, "--time", "5");
        Assert.True(refused.Code == 1 && refused.Stderr.Contains("ended", StringComparison.Ordinal), refused.ToString());
    }

    [Fact]
    public async Task Signal_Usr1_ReachesTheJobsTrap_AndTheJobRunsOn()
    {
        var cli = NewCli();
        await File.WriteAllTextAsync(Path.Combine(cli.WorkDir, "trap.sh"), """
            #!/bin/bash
            trap 'echo caught >> caught.txt' USR1
            touch ready.txt
            for i in $(seq 1 600); do sleep 0.1; done
            """);
        var id = await SubmitAsync(cli, "--time", "5", "trap.sh");
        await Poll.UntilAsync(() => File.Exists(Path.Combine(cli.WorkDir, "ready.txt")), Soon, "the job to set its trap");

        var signal = await cli.RunAsync("cancel", "--signal", "USR1", id);

        Assert.True(signal.Code == 0, signal.ToString());
        await Poll.UntilAsync(() => File.Exists(Path.Combine(cli.WorkDir, "caught.txt")), Soon, "the trap to write its file");
        Assert.Equal("RUNNING", (await fixture.GetJobAsync(id))["state"]!.GetValue<string>());

        // The agent records the signal once it has sent it: the job's trap may run before the event is written.
        await Poll.UntilAsync(async () => JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{id}/events"))!.AsArray(),
            events => events.Any(e => e!["kind"]!.GetValue<string>() == "signal" && e["detail"]!.GetValue<string>().StartsWith("SIGUSR1 sent", StringComparison.Ordinal)),
            Soon, "the signal's event");

        var sh = await SlurmShell.CreateAsync(fixture.Server, cli.WorkDir);
        var scancel = await sh.RunAsync($"scancel -s USR2 {id}");
        Assert.True(scancel.Code == 0 && scancel.Stderr == "", scancel.ToString());
        Assert.Equal(0, (await cli.RunAsync("cancel", id)).Code);
    }

    [Fact]
    public async Task Signal_ToAPendingJob_IsRefusedAsSlurmDoes_AndTheJobStaysPendingWithoutIt()
    {
        // slurmctld answers a signal to a pending job with "Job can not be altered now": nothing is kept for its start.
        var cli = NewCli();
        var pending = await SubmitAsync(cli, "--hold", "--wrap", "true");

        var refused = await cli.RunAsync("cancel", "-s", "USR1", pending);
        Assert.True(refused.Code == 1 && refused.Stderr.Contains($"Job {pending} is PENDING: only a running job can be signalled", StringComparison.Ordinal),
            refused.ToString());
        var sh = await SlurmShell.CreateAsync(fixture.Server, cli.WorkDir);
        var scancel = await sh.RunAsync($"scancel -s USR1 {pending}");
        Assert.True(scancel.Code != 0 && scancel.Stderr.Contains($"Kill job error on job id {pending}: Job can not be altered now, try again later", StringComparison.Ordinal),
            scancel.ToString());

        Assert.Equal(0, (await cli.RunAsync("release", pending)).Code);
        Assert.Equal("COMPLETED", (await fixture.WaitForStateAsync(pending, Soon, "COMPLETED", "FAILED"))["state"]!.GetValue<string>());
        var events = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{pending}/events"))!.AsArray();
        Assert.DoesNotContain(events, e => e!["kind"]!.GetValue<string>() == "signal");
    }

    [Fact]
    public async Task Cancel_ByNameStateAndUser_CancelsOnlyTheMatchingJobs()
    {
        var cli = NewCli();
        var tag = Guid.NewGuid().ToString("N")[..6];
        var a1 = await SubmitAsync(cli, "--hold", "-J", $"a-{tag}", "--wrap", "true");
        var a2 = await SubmitAsync(cli, "--hold", "-J", $"a-{tag}", "--wrap", "true");
        var b = await SubmitAsync(cli, "--hold", "-J", $"b-{tag}", "--wrap", "true");
        var c = await SubmitAsync(cli, "--hold", "-J", $"c-{tag}", "--wrap", "true");

        var byName = await cli.RunAsync("cancel", "--name", $"a-{tag}", "--state", "PD", "--me");
        Assert.True(byName.Code == 0, byName.ToString());

        string State(JsonNode job) => job["state"]!.GetValue<string>();
        Assert.Equal(["CANCELLED", "CANCELLED", "PENDING", "PENDING"],
            [State(await fixture.GetJobAsync(a1)), State(await fixture.GetJobAsync(a2)), State(await fixture.GetJobAsync(b)), State(await fixture.GetJobAsync(c))]);
        var none = await cli.RunAsync("cancel", "--name", $"b-{tag}", "--state", "R");
        Assert.Equal("PENDING", State(await fixture.GetJobAsync(b)));
        Assert.True(none.Code == 0, none.ToString());

        var sh = await SlurmShell.CreateAsync(fixture.Server, cli.WorkDir);
        var scancel = await sh.RunAsync($"scancel --me -t PENDING -n b-{tag},c-{tag}");
        Assert.True(scancel.Code == 0 && scancel.Stderr == "", scancel.ToString());
        Assert.Equal(["CANCELLED", "CANCELLED"], [State(await fixture.GetJobAsync(b)), State(await fixture.GetJobAsync(c))]);
        Assert.Equal(1, (await cli.RunAsync("cancel")).Code);
    }

    [Fact]
    public async Task Requeue_OfAFinishedJob_RunsItAgainAsAttempt2_AndOfARunningJob_StopsItFirst()
    {
        var cli = NewCli();
        var id = await SubmitAsync(cli, "--wrap", "echo run $SLURM_RESTART_COUNT >> runs.txt");
        await fixture.WaitForStateAsync(id, Soon, "COMPLETED");

        var requeue = await cli.RunAsync("requeue", id);

        Assert.True(requeue.Code == 0, requeue.ToString());
        await Poll.UntilAsync(() => fixture.GetJobAsync(id), j => j["attempt"]!.GetValue<int>() == 2 && j["state"]!.GetValue<string>() == "COMPLETED",
            Soon, $"job {id} to complete its second attempt");
        Assert.Equal("run 0\nrun 1\n", await File.ReadAllTextAsync(Path.Combine(cli.WorkDir, "runs.txt")));
        var sh = await SlurmShell.CreateAsync(fixture.Server, cli.WorkDir);
        Assert.Contains("Restarts=1", (await sh.RunAsync($"scontrol show job {id}")).Stdout, StringComparison.Ordinal);

        var running = await SubmitAsync(cli, "--time", "5", "--wrap", "sleep 60");
        await fixture.WaitForStateAsync(running, Soon, "RUNNING");
        var viaSlurm = await sh.RunAsync($"scontrol requeue {running}");
        Assert.True(viaSlurm.Code == 0 && viaSlurm.Stderr == "", viaSlurm.ToString());
        await Poll.UntilAsync(() => fixture.GetJobAsync(running), j => j["attempt"]!.GetValue<int>() == 2 && j["state"]!.GetValue<string>() == "RUNNING",
            Soon, $"job {running} to run its second attempt");
        var events = JsonNode.Parse(await fixture.Client.GetStringAsync($"/api/v1/jobs/{running}/events"))!.AsArray();
        Assert.Contains(events, e => e!["kind"]!.GetValue<string>() == "requeued");
        Assert.Equal(0, (await cli.RunAsync("cancel", running)).Code);

        var held = await SubmitAsync(cli, "--hold", "--wrap", "true");
        var pending = await cli.RunAsync("requeue", held);
        Assert.True(pending.Code == 1 && pending.Stderr.Contains("pending already", StringComparison.Ordinal), pending.ToString());
        Assert.Equal(0, (await cli.RunAsync("cancel", held)).Code);
    }
}
