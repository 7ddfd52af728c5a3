using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// Local login without tokens: the real CLI and sbatch, run as real Unix users, reach the root server through its
/// Unix socket, where the kernel's peer credentials name the caller.
/// </summary>
public sealed class LocalSocketTests(MultiUserFixture fixture) : IClassFixture<MultiUserFixture>
{
    private UnixUsers Users => fixture.Users;

    [Fact]
    public async Task User_SubmitsWithSbatchOverTheSocket_WithoutAToken_AndTheJobRunsAsThem()
    {
        var home = Users.Home(Users.Alice);

        var (code, output) = await ConductorAsAsync(Users.Alice, "slurm", "sbatch", "--parsable", "-D", home, "-o", "sock-%j.out", "--wrap", "id -un");

        Assert.True(code == 0, output);
        var id = output.Trim();
        using var admin = fixture.Admin();
        var job = await MultiUserFixture.WaitForEndAsync(admin, id);
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.Equal(Users.Alice, job["detail"]!["user"]!.GetValue<string>());
        Assert.Equal($"{Users.Alice}\n", await File.ReadAllTextAsync(Path.Combine(home, $"sock-{id}.out")));
    }

    [Fact]
    public async Task User_CannotCancelAnotherUsersJobOverTheSocket_AndRootThereIsTheAdmin()
    {
        var (submitted, bobJob) = await ConductorAsAsync(Users.Bob, "submit", "--parsable", "--chdir", Users.Home(Users.Bob), "--wrap", "sleep 30");
        Assert.True(submitted == 0, bobJob);
        bobJob = bobJob.Trim();

        var (aliceCode, aliceOutput) = await ConductorAsAsync(Users.Alice, "cancel", bobJob);
        var (scancelCode, scancelOutput) = await ConductorAsAsync(Users.Alice, "slurm", "scancel", bobJob);
        using var bob = fixture.Bob();
        var afterAlice = JsonNode.Parse(await bob.GetStringAsync($"/api/v1/jobs/{bobJob}"))!["state"]!.GetValue<string>();
        var (whoCode, who) = await ConductorAsAsync("root", "slurm", "squeue", "-h", "-j", bobJob, "-o", "%u");
        var (rootCode, rootOutput) = await ConductorAsAsync("root", "cancel", bobJob);

        Assert.NotEqual(0, aliceCode);
        Assert.Contains("does not exist", aliceOutput, StringComparison.Ordinal);
        // Another user's job is one Alice cannot see: scancel passes over it quietly, as Slurm's passes over an unknown
        // job, and the job runs on.
        Assert.True(scancelCode == 0 && scancelOutput.Length == 0, scancelOutput);
        Assert.True(afterAlice is "PENDING" or "RUNNING", afterAlice);
        Assert.True(whoCode == 0, who);
        Assert.Equal(Users.Bob, who.Trim());
        Assert.True(rootCode == 0, rootOutput);
        var ended = await MultiUserFixture.WaitForEndAsync(bob, bobJob);
        Assert.Equal("CANCELLED", ended["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task SystemUser_OnTheSocket_IsRefusedWithTheReason()
    {
        var (code, output) = await ConductorAsAsync("daemon", "queue");

        Assert.NotEqual(0, code);
        Assert.Contains("--min-uid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Root_SubmitsAsAnotherUser_WithUid_AndAUserMayNot()
    {
        var home = Users.Home(Users.Alice);

        var (rootCode, rootOutput) = await ConductorAsAsync("root", "slurm", "sbatch", "--parsable", "--uid", Users.Alice, "-D", home, "-o", "uid-%j.out", "--wrap", "id -un");
        var (submitCode, submitOutput) = await ConductorAsAsync("root", "submit", "--parsable", "--uid", Users.Alice, "--chdir", home, "--output", "uid-%j.out", "--wrap", "id -un");
        var (bobCode, bobOutput) = await ConductorAsAsync(Users.Bob, "submit", "--uid", Users.Alice, "--chdir", Users.Home(Users.Bob), "--wrap", "id -un");

        Assert.True(rootCode == 0, rootOutput);
        Assert.True(submitCode == 0, submitOutput);
        using var alice = fixture.Alice();
        foreach (var id in new[] { rootOutput.Trim(), submitOutput.Trim() })
        {
            var job = await MultiUserFixture.WaitForEndAsync(alice, id);
            Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
            Assert.Equal($"{Users.Alice}\n", await File.ReadAllTextAsync(Path.Combine(home, $"uid-{id}.out")));
        }

        Assert.Equal(1, bobCode);
        Assert.Contains("Only the admin may run a job as another user", bobOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dashboard_OverTheSocket_PrintsALinkToTheServersWebAddress_ThatLogsTheUserIn()
    {
        var (code, output) = await ConductorAsAsync(Users.Alice, "dashboard");

        Assert.True(code == 0, output);
        var link = output.Trim();
        Assert.StartsWith($"{fixture.Server.BaseAddress.ToString().TrimEnd('/')}/#login=", link, StringComparison.Ordinal);
        using var browser = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/session")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { code = link[(link.IndexOf("#login=", StringComparison.Ordinal) + 7)..] }),
        };
        request.Headers.Add("X-Conductor-Request", "1");
        using var session = await browser.SendAsync(request);
        var body = await session.Content.ReadAsStringAsync();
        Assert.True(session.IsSuccessStatusCode, body);
        Assert.Equal(Users.Alice, JsonNode.Parse(body)!["account"]!.GetValue<string>());
    }

    /// <summary>Runs the conductor executable as <paramref name="user"/> with no address and no token: the data directory alone.</summary>
    private Task<(int Code, string Output)> ConductorAsAsync(string user, params string[] args) =>
        UnixUsers.RunAsAsync(user, [
            "env", "-u", "CONDUCTOR_URL", "-u", "CONDUCTOR_TOKEN", "HOME=" + (user == "root" ? "/root" : user == "daemon" ? "/tmp" : Users.Home(user)),
            "DOTNET_CLI_HOME=/tmp", "CONDUCTOR_DATA_DIR=" + fixture.Server.DataDirectory,
            "dotnet", Path.Combine(AppContext.BaseDirectory, "conductor.dll"), .. args]);
}
