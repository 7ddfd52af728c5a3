using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Conductor.EndToEnd.Tests;
using Microsoft.Playwright;

namespace Conductor.Browser.Tests;

/// <summary>The dashboard in a real headless Chromium against a real server.</summary>
public sealed class DashboardTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    [BrowserFact]
    public async Task Dashboard_ShowsASubmittedJob_AndCancelsItFromThePage()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "4G", "--kill-wait", "2s");
        using var http = server.CreateClient();
        var workDir = server.WorkDirectory;
        var done = await SubmitAsync(http, workDir, "hello-browser", "#!/bin/bash\necho \"Hello from the dashboard test\"\necho 'a second line'\n");
        var sleeper = await SubmitAsync(http, workDir, "long-sleeper", "#!/bin/bash\necho started\nsleep 600\n");
        var held = await SubmitAsync(http, workDir, "held-job", "#!/bin/bash\ntrue\n", hold: true);
        await WaitForStateAsync(http, done, "COMPLETED");
        await WaitForStateAsync(http, sleeper, "RUNNING");

        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
            var consoleErrors = new List<string>();
            page.Console += (_, m) =>
            {
                // The page's first requests are refused until it has a token; that is the point of the prompt.
                if (m.Type == "error" && !m.Text.Contains("401", StringComparison.Ordinal))
                {
                    consoleErrors.Add(m.Text);
                }
            };
            page.Dialog += async (_, dialog) => await dialog.AcceptAsync();

            await page.GotoAsync(server.BaseAddress.ToString());

            // No token yet: the page asks for one and names the file that holds it.
            var dialog = page.Locator("#token-dialog");
            await Assertions.Expect(dialog).ToBeVisibleAsync(new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator("#token-hint")).ToContainTextAsync("admin.token");
            await page.FillAsync("#token-input", server.Token);
            await page.ClickAsync("#token-save");

            var runningRow = page.Locator($"#running tr[data-job-id='{sleeper}']");
            await Assertions.Expect(runningRow).ToContainTextAsync("long-sleeper", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator($"#pending tr[data-job-id='{held}']")).ToContainTextAsync("JobHeldUser");
            await Assertions.Expect(page.Locator($"#recent tr[data-job-id='{done}']")).ToContainTextAsync("COMPLETED");
            await Assertions.Expect(page.Locator("#nodes")).ToContainTextAsync("e2e-node");
            await Assertions.Expect(page.Locator(".count[data-state='RUNNING'] .n")).ToHaveTextAsync("1");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.ArtifactsDirectory, "dashboard.png"), FullPage = true });

            await runningRow.Locator("button.cancel").ClickAsync();

            await WaitForStateAsync(http, sleeper, "CANCELLED");
            await Assertions.Expect(page.Locator($"#running tr[data-job-id='{sleeper}']")).ToHaveCountAsync(0, new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator($"#recent tr[data-job-id='{sleeper}']")).ToContainTextAsync("CANCELLED", new() { Timeout = 15_000 });

            // The job page: details, the timeline and the output.
            await page.GotoAsync(new Uri(server.BaseAddress, $"/#/jobs/{done}").ToString());
            await Assertions.Expect(page.Locator("#job-title")).ToContainTextAsync("hello-browser", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator("#job-stdout")).ToContainTextAsync("Hello from the dashboard test");
            await Assertions.Expect(page.Locator("#job-events")).ToContainTextAsync("finished");
            Assert.Equal("Hello from the dashboard test\na second line\n", await page.Locator("#job-stdout").TextContentAsync());
            await Assertions.Expect(page.Locator("#job-cancel")).ToBeHiddenAsync();
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.ArtifactsDirectory, "job.png"), FullPage = true });

            Assert.Empty(consoleErrors);
        }
    }

    [BrowserFact]
    public async Task JobPage_FollowsOutput_AndItsCancelButtonCancels()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "1", "--kill-wait", "2s");
        using var http = server.CreateClient();
        var marker = Path.Combine(server.WorkDirectory, "go");
        var job = await SubmitAsync(http, server.WorkDirectory, "follower",
            $"#!/bin/bash\necho first line\nwhile [ ! -e {marker} ]; do sleep 0.1; done\necho second line\nsleep 600\n");
        await WaitForStateAsync(http, job, "RUNNING");

        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync();
            page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
            await LogInAsync(page, http, server);
            await page.GotoAsync(new Uri(server.BaseAddress, $"/#/jobs/{job}").ToString());

            var output = page.Locator("#job-stdout");
            await Assertions.Expect(output).ToContainTextAsync("first line", new() { Timeout = 15_000 });
            await File.WriteAllTextAsync(marker, "");
            await Assertions.Expect(output).ToContainTextAsync("second line", new() { Timeout = 15_000 });
            Assert.Equal("first line\nsecond line\n", await output.TextContentAsync());

            await page.ClickAsync("#job-cancel");
            await WaitForStateAsync(http, job, "CANCELLED");
            await Assertions.Expect(page.Locator("#job-state")).ToHaveTextAsync("CANCELLED", new() { Timeout = 15_000 });

            // A drained node shows its state and reason in the overview's node table.
            var node = JsonNode.Parse(await http.GetStringAsync("/api/v1/nodes"))!.AsArray()[0]!["name"]!.GetValue<string>();
            (await http.PostAsJsonAsync($"/api/v1/nodes/{node}/drain", new { reason = "disk swap" })).EnsureSuccessStatusCode();
            await page.GotoAsync(server.BaseAddress.ToString());
            var row = page.Locator($"#nodes tr[data-node='{node}']");
            await Assertions.Expect(row).ToContainTextAsync("DRAINED", new() { Timeout = 15_000 });
            await Assertions.Expect(row).ToContainTextAsync("disk swap");
        }
    }

    /// <summary>Logs the page in as <c>conductor dashboard</c> does: a login code in the link's fragment.</summary>
    private static async Task LogInAsync(IPage page, HttpClient http, ServerProcess server)
    {
        var response = await http.PostAsync("/api/v1/auth/login-codes", null);
        response.EnsureSuccessStatusCode();
        var path = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["login_path"]!.GetValue<string>();
        await page.GotoAsync(new Uri(server.BaseAddress, path).ToString());
        await Assertions.Expect(page.Locator("#account")).ToContainTextAsync("admin", new() { Timeout = 15_000 });
    }

    private static async Task<string> SubmitAsync(HttpClient http, string workDir, string name, string script, bool hold = false)
    {
        var body = new JsonObject
        {
            ["job"] = new JsonObject { ["name"] = name, ["current_working_directory"] = workDir, ["hold"] = hold, ["time_limit"] = "10" },
            ["script"] = script,
        };
        var response = await http.PostAsJsonAsync("/api/v1/jobs", body);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>();
    }

    private static Task<JsonNode> WaitForStateAsync(HttpClient http, string id, string state) =>
        Poll.UntilAsync(
            async () => JsonNode.Parse(await http.GetStringAsync($"/api/v1/jobs/{id}"))!,
            j => j["state"]!.GetValue<string>() == state, Soon, $"job {id} to be {state}");
}
