using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>A root server with a tokens file of two real Unix users, and an accounts file.</summary>
public sealed class MultiUserFixture : IAsyncLifetime
{
    public UnixUsers Users { get; } = new();
    public ServerProcess Server { get; private set; } = null!;
    public string AliceToken { get; } = "alice-" + Guid.NewGuid().ToString("N");
    public string BobToken { get; } = "bob-" + Guid.NewGuid().ToString("N");
    public string MissingUserToken { get; } = "ghost-" + Guid.NewGuid().ToString("N");
    public string SystemUserToken { get; } = "daemon-" + Guid.NewGuid().ToString("N");

    public async Task InitializeAsync()
    {
        await Users.InitializeAsync();
        Server = await ServerProcess.StartPreparedAsync(
            data =>
            {
                File.WriteAllText(Path.Combine(data, "tokens"),
                    $"{Users.Alice} {AliceToken}\n{Users.Bob} {BobToken}\nghost-{Users.Alice} {MissingUserToken}\ndaemon {SystemUserToken}\n");
                File.WriteAllText(Path.Combine(data, "accounts"), $"{Users.Alice} lab-a,lab-shared\n");
            },
            "--cpus", "2", "--memory", "4G", "--kill-wait", "1s");
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Users.DisposeAsync();
    }

    public HttpClient Client(string token)
    {
        var client = new HttpClient { BaseAddress = Server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public HttpClient Alice() => Client(AliceToken);

    public HttpClient Bob() => Client(BobToken);

    public HttpClient Admin() => Client(Server.Token);

    public static async Task<HttpResponseMessage> PostJobAsync(HttpClient client, string script, JsonObject job) =>
        await client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = job, ["script"] = script });

    public static async Task<string> SubmitAsync(HttpClient client, string script, JsonObject job)
    {
        var response = await PostJobAsync(client, script, job);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"submit answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["job_id"]!.GetValue<string>();
    }

    public static async Task<JsonNode> WaitForEndAsync(HttpClient client, string id) =>
        await Poll.UntilAsync(
            async () => JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!,
            j => j["state"]!.GetValue<string>() is not ("PENDING" or "RUNNING"),
            TimeSpan.FromSeconds(60),
            $"job {id} to end");
}

/// <summary>
/// Multi-user security on a server running as root: jobs run as their owner's Unix user, tokens name Unix users,
/// ownership follows the user and the account is only a charge label. Real users, real processes, real HTTP.
/// </summary>
public sealed class MultiUserTests(MultiUserFixture fixture) : IClassFixture<MultiUserFixture>
{
    private UnixUsers Users => fixture.Users;

    private string Data => fixture.Server.DataDirectory;

    [Fact]
    public async Task Job_RunsAsItsOwner_WithTheirHome_AndItsOutputIsTheirs()
    {
        using var alice = fixture.Alice();
        var home = Users.Home(Users.Alice);

        var id = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\nid -un\necho \"$HOME $USER $LOGNAME\"\nsrun -n1 sh -c 'echo step $SLURM_STEP_ID'\nsrun sh -c 'echo step $SLURM_STEP_ID'\n",
            new JsonObject { ["current_working_directory"] = home, ["standard_output"] = "who-%j.out" });
        var job = await MultiUserFixture.WaitForEndAsync(alice, id);

        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        var output = Path.Combine(home, $"who-{id}.out");
        Assert.Equal($"{Users.Alice}\n{home} {Users.Alice} {Users.Alice}\nstep 0\nstep 1\n", await File.ReadAllTextAsync(output));
        var (_, owner) = await UnixUsers.RunAsync("stat", "-c", "%U", output);
        Assert.Equal(Users.Alice, owner.Trim());
        Assert.Equal(Users.Alice, job["detail"]!["account"]!.GetValue<string>());
        Assert.Equal(Users.Alice, job["detail"]!["user"]!.GetValue<string>());
    }

    [Fact]
    public async Task Job_CannotReadTheAdminToken_TheDatabase_OrAnotherUsersScript()
    {
        using var alice = fixture.Alice();
        using var bob = fixture.Bob();
        var bobJob = await MultiUserFixture.SubmitAsync(bob, "#!/bin/bash\nsleep 30\n",
            new JsonObject { ["current_working_directory"] = Users.Home(Users.Bob) });
        await Poll.UntilAsync(
            async () => JsonNode.Parse(await bob.GetStringAsync($"/api/v1/jobs/{bobJob}"))!["state"]!.GetValue<string>(),
            s => s == "RUNNING", TimeSpan.FromSeconds(30), "bob's job to run");

        var id = await MultiUserFixture.SubmitAsync(alice,
            $"#!/bin/bash\ncat {Data}/admin.token || echo no-token\nhead -c 16 {Data}/conductor.db || echo no-db\n" +
            $"cat {Data}/scripts/job-{bobJob}-1/script || echo no-script\nls {Data} || echo no-list\n",
            new JsonObject { ["current_working_directory"] = Users.Home(Users.Alice), ["standard_output"] = "steal-%j.out" });
        await MultiUserFixture.WaitForEndAsync(alice, id);

        var output = await File.ReadAllTextAsync(Path.Combine(Users.Home(Users.Alice), $"steal-{id}.out"));
        Assert.Contains("no-token", output, StringComparison.Ordinal);
        Assert.Contains("no-db", output, StringComparison.Ordinal);
        Assert.Contains("no-script", output, StringComparison.Ordinal);
        Assert.Contains("no-list", output, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.Token, output, StringComparison.Ordinal);
        var stillRunning = JsonNode.Parse(await bob.GetStringAsync($"/api/v1/jobs/{bobJob}"))!;
        Assert.Equal("RUNNING", stillRunning["state"]!.GetValue<string>());
        await bob.PostAsync($"/api/v1/jobs/{bobJob}/cancel", null);
    }

    [Fact]
    public async Task User_SeesAndCancelsOnlyTheirOwnJobs_AndTheAdminSeesAll()
    {
        using var alice = fixture.Alice();
        using var bob = fixture.Bob();
        using var admin = fixture.Admin();
        var id = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\nsleep 30\n",
            new JsonObject { ["current_working_directory"] = Users.Home(Users.Alice) });

        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/v1/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/v1/jobs/{id}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/jobs/cancel/{id}", null)).StatusCode);
        var bobsList = JsonNode.Parse(await bob.GetStringAsync("/api/v1/jobs?limit=1000"))!["jobs"]!.AsArray();
        Assert.DoesNotContain(bobsList, j => j!["job_id"]!.GetValue<string>() == id);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/v1/jobs/{id}")).StatusCode);

        var cancel = await alice.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
    }

    [Fact]
    public async Task Token_OfAMissingUserOrASystemUid_IsRefusedWithTheReason()
    {
        using var ghost = fixture.Client(fixture.MissingUserToken);
        using var daemon = fixture.Client(fixture.SystemUserToken);

        var ghostAnswer = await ghost.GetAsync("/api/v1/jobs");
        var daemonAnswer = await daemon.GetAsync("/api/v1/jobs");

        Assert.Equal(HttpStatusCode.Unauthorized, ghostAnswer.StatusCode);
        Assert.Contains("does not exist", await ghostAnswer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, daemonAnswer.StatusCode);
        Assert.Contains("--min-uid", await daemonAnswer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_RunsAJobAsAnotherUser_WithUid_AndAUserMayNot()
    {
        using var admin = fixture.Admin();
        using var bob = fixture.Bob();
        var home = Users.Home(Users.Alice);

        var id = await MultiUserFixture.SubmitAsync(admin, "#!/bin/bash\nid -un\n",
            new JsonObject { ["current_working_directory"] = home, ["uid"] = Users.Alice, ["standard_output"] = "as-%j.out" });
        var job = await MultiUserFixture.WaitForEndAsync(admin, id);
        var refused = await MultiUserFixture.PostJobAsync(bob, "#!/bin/bash\nid\n",
            new JsonObject { ["current_working_directory"] = home, ["uid"] = Users.Alice });

        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.Equal($"{Users.Alice}\n", await File.ReadAllTextAsync(Path.Combine(home, $"as-{id}.out")));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("uid", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var alice = fixture.Alice();
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/v1/jobs/{id}")).StatusCode);
    }

    [Fact]
    public async Task Account_IsAChargeLabel_TheUserMayChooseOnlyFromTheAccountsFile()
    {
        using var alice = fixture.Alice();
        using var bob = fixture.Bob();
        var job = new JsonObject { ["current_working_directory"] = Users.Home(Users.Alice), ["account"] = "lab-shared", ["hold"] = true };

        var id = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\ntrue\n", job);
        var refused = await MultiUserFixture.PostJobAsync(bob, "#!/bin/bash\ntrue\n",
            new JsonObject { ["current_working_directory"] = Users.Home(Users.Bob), ["account"] = "lab-shared" });

        var view = JsonNode.Parse(await alice.GetStringAsync($"/api/v1/jobs/{id}"))!;
        Assert.Equal("lab-shared", view["detail"]!["account"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("account", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await alice.PostAsync($"/api/v1/jobs/{id}/cancel", null);
    }

    [Fact]
    public async Task Attack_SetsidAndDoubleForkedProcesses_DieWithTheJob_AndNodesSayHowJobsAreContained()
    {
        using var alice = fixture.Alice();
        var marker = "9" + Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);

        var id = await MultiUserFixture.SubmitAsync(alice,
            $"#!/bin/bash\nsetsid sleep {marker} &\n( ( sleep {marker}1 & ) & )\nsleep 0.3\n",
            new JsonObject { ["current_working_directory"] = Users.Home(Users.Alice) });
        var job = await MultiUserFixture.WaitForEndAsync(alice, id);

        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        await Poll.UntilAsync(() => !Survivors(marker).Any(), TimeSpan.FromSeconds(10), "the job's escaped sleeps to be killed");
        var nodes = JsonNode.Parse(await alice.GetStringAsync("/api/v1/nodes"))!.AsArray();
        Assert.StartsWith("cgroup", nodes[0]!["containment"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_OutputToTheDatabase_ThroughASymlink_OrIntoAFifo_FailsThatJobWithTheReason_AndTheNodeGoesOn()
    {
        using var alice = fixture.Alice();
        var home = Users.Home(Users.Alice);
        var database = Path.Combine(Data, "conductor.db");
        var before = new FileInfo(database).Length;
        await UnixUsers.RunAsAsync(Users.Alice, "mkfifo", Path.Combine(home, "freeze.fifo"));
        await UnixUsers.RunAsAsync(Users.Alice, "ln", "-s", database, Path.Combine(home, "db.link"));

        var reasons = new Dictionary<string, string>();
        foreach (var (output, reason) in new[]
        {
            (database, "Permission denied"),
            (Path.Combine(home, "db.link"), "symbolic link"),
            (Path.Combine(home, "freeze.fifo"), "FIFO"),
        })
        {
            var id = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\necho overwritten\n",
                new JsonObject { ["current_working_directory"] = home, ["standard_output"] = output });
            var job = await MultiUserFixture.WaitForEndAsync(alice, id);
            Assert.Equal("FAILED", job["state"]!.GetValue<string>());
            Assert.Contains(reason, job["error_msg"]!.GetValue<string>(), StringComparison.Ordinal);
            reasons[output] = job["error_msg"]!.GetValue<string>();
        }

        var next = await MultiUserFixture.SubmitAsync(alice, "#!/bin/bash\necho fine\n",
            new JsonObject { ["current_working_directory"] = home });
        Assert.Equal("COMPLETED", (await MultiUserFixture.WaitForEndAsync(alice, next))["state"]!.GetValue<string>());
        Assert.True(new FileInfo(database).Length >= before, $"the database shrank: {string.Join("; ", reasons.Values)}");
        using var admin = fixture.Admin();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/v1/jobs?limit=5")).StatusCode);
    }

    [Fact]
    public async Task Attack_CancelRightAfterSubmit_NeverLeavesCpusAllocated()
    {
        using var bob = fixture.Bob();
        var home = Users.Home(Users.Bob);
        for (var i = 0; i < 20; i++)
        {
            var id = await MultiUserFixture.SubmitAsync(bob, "#!/bin/bash\nsleep 30\n",
                new JsonObject { ["current_working_directory"] = home, ["cpus_per_task"] = 2 });
            await bob.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        }

        await Poll.UntilAsync(
            async () => JsonNode.Parse(await bob.GetStringAsync("/api/v1/nodes"))!.AsArray()[0]!["cpus_allocated"]!.GetValue<int>(),
            allocated => allocated == 0, TimeSpan.FromSeconds(20), "the node's CPUs to be free");
        var after = await MultiUserFixture.SubmitAsync(bob, "#!/bin/bash\ntrue\n",
            new JsonObject { ["current_working_directory"] = home, ["cpus_per_task"] = 2 });
        Assert.Equal("COMPLETED", (await MultiUserFixture.WaitForEndAsync(bob, after))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task UnprivilegedServer_WithATokensFileOfOtherUsers_RefusesToStart_UnlessTheyShareItsUser()
    {
        var data = Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "tokens"), $"{Users.Bob} {fixture.BobToken}\n");
        await UnixUsers.RunAsync("chown", "-R", Users.Alice, data);
        try
        {
            var (code, output) = await UnixUsers.RunAsAsync(Users.Alice, "env", "HOME=" + Users.Home(Users.Alice), "DOTNET_CLI_HOME=/tmp",
                "dotnet", Path.Combine(AppContext.BaseDirectory, "conductor.dll"), "server", "--data-dir", data, "--listen", "127.0.0.1:0");

            Assert.Equal(1, code);
            Assert.Contains("--shared-unix-user", output, StringComparison.Ordinal);
            Assert.Contains(Users.Bob, output, StringComparison.Ordinal);
            Assert.Single(output.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static IEnumerable<int> Survivors(string marker) =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && ReadCommandLine(pid).Contains("sleep\0" + marker, StringComparison.Ordinal));

    private static string ReadCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
