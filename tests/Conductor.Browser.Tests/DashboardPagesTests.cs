using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Conductor.EndToEnd.Tests;
using Microsoft.Playwright;

namespace Conductor.Browser.Tests;

/// <summary>The history, charts and job pages in a real Chromium, logged in with the link of <c>conductor dashboard</c>.</summary>
public sealed class DashboardPagesTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    [BrowserFact]
    public async Task HistoryPage_FiltersEndedJobs_AndSortsThemByCpuEfficiency()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "4G", "--kill-wait", "2s");
        using var http = server.CreateClient();
        var busy = await SubmitAsync(http, server.WorkDirectory, "busy-loop", "#!/bin/bash\nend=$((SECONDS+2))\nwhile [ $SECONDS -lt $end ]; do :; done\n");
        var idle = await SubmitAsync(http, server.WorkDirectory, "idle-sleep", "#!/bin/bash\nsleep 2\n");
        var failed = await SubmitAsync(http, server.WorkDirectory, "idle-fails", "#!/bin/bash\nsleep 1\nexit 4\n");
        foreach (var id in new[] { busy, idle, failed })
        {
            await WaitForEndAsync(http, id);
        }

        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
            await LogInWithTheCliLinkAsync(page, server);
            await page.GotoAsync(new Uri(server.BaseAddress, "/#/history").ToString());
            var rows = page.Locator("#history-rows tr[data-job-id]");
            await Assertions.Expect(rows).ToHaveCountAsync(3, new() { Timeout = 15_000 });

            await page.FillAsync("#h-name", "IDLE");
            await page.ClickAsync("#history-apply");
            await Assertions.Expect(rows).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator($"#history-rows tr[data-job-id='{busy}']")).ToHaveCountAsync(0);

            await page.SelectOptionAsync("#h-state", "FAILED");
            await page.ClickAsync("#history-apply");
            await Assertions.Expect(rows).ToHaveCountAsync(1);
            await Assertions.Expect(rows.First).ToContainTextAsync("4:0");
            Assert.Contains("state=FAILED", page.Url, StringComparison.Ordinal);

            await page.ClickAsync("#history-clear");
            await Assertions.Expect(rows).ToHaveCountAsync(3);
            await page.ClickAsync("#history th[data-sort='cpu_efficiency']");
            await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-job-id", busy);
            await page.ClickAsync("#history th[data-sort='cpu_efficiency']");
            await Assertions.Expect(rows.Last).ToHaveAttributeAsync("data-job-id", busy);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.ArtifactsDirectory, "history.png"), FullPage = true });
        }
    }

    [BrowserFact]
    public async Task ChartsPage_DrawsTheJobsTheTestRan()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "4G", "--kill-wait", "2s");
        using var http = server.CreateClient();
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await SubmitAsync(http, server.WorkDirectory, $"chart-{i}", "#!/bin/bash\nsleep 0.5\n"));
        }

        var sleeper = await SubmitAsync(http, server.WorkDirectory, "chart-sleeper", "#!/bin/bash\nsleep 600\n");
        foreach (var id in ids)
        {
            await WaitForEndAsync(http, id);
        }

        await WaitForStateAsync(http, sleeper, "RUNNING");

        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
            var consoleErrors = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") { consoleErrors.Add(m.Text); } };
            page.PageError += (_, e) => consoleErrors.Add(e);
            await LogInWithTheCliLinkAsync(page, server);
            await page.GotoAsync(new Uri(server.BaseAddress, "/#/charts").ToString());

            // Every chart is drawn (a canvas each), and the throughput chart holds the jobs of this test. Jobs that
            // ended in an earlier minute are in its stored sample; the minute under way is measured on request.
            await Assertions.Expect(page.Locator("#charts .chart canvas")).ToHaveCountAsync(4, new() { Timeout = 15_000 });
            var throughput = page.Locator("#chart-throughput");
            await Assertions.Expect(throughput).ToHaveAttributeAsync("data-started", "7");
            await Assertions.Expect(throughput).ToHaveAttributeAsync("data-finished", "6");
            await Assertions.Expect(page.Locator("#chart-cpus .u-legend")).ToContainTextAsync("allocated");
            await Assertions.Expect(page.Locator("#charts button[data-range='hour']")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("active"));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.ArtifactsDirectory, "charts.png"), FullPage = true });

            await page.ClickAsync("#charts button[data-range='week']");
            await Assertions.Expect(page.Locator("#charts button[data-range='week']")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("active"));
            await Assertions.Expect(throughput).ToHaveAttributeAsync("data-started", new System.Text.RegularExpressions.Regex("^[0-9.]+$"));
            Assert.Empty(consoleErrors);
        }
    }

    [BrowserFact]
    public async Task JobPage_ShowsARunningJobsEnd_WithinASecond_WithoutAReload_AndItsEfficiency()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "4G", "--kill-wait", "2s");
        using var http = server.CreateClient();
        var marker = Path.Combine(server.WorkDirectory, "finish-now");
        var job = await SubmitAsync(http, server.WorkDirectory, "live-job",
            $"#!/bin/bash\necho waiting\nwhile [ ! -e {marker} ]; do sleep 0.05; done\necho done\n", new { memory_per_node = "100M" });
        await WaitForStateAsync(http, job, "RUNNING");

        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            // Two tabs of one browser: they share the session cookie.
            var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
            var page = await context.NewPageAsync();
            var overview = await context.NewPageAsync();
            await LogInWithTheCliLinkAsync(page, server);
            await overview.GotoAsync(server.BaseAddress.ToString());
            await Assertions.Expect(overview.Locator($"#running tr[data-job-id='{job}']")).ToHaveCountAsync(1, new() { Timeout = 15_000 });

            await page.GotoAsync(new Uri(server.BaseAddress, $"/#/jobs/{job}").ToString());
            await Assertions.Expect(page.Locator("#job-state")).ToHaveTextAsync("RUNNING", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator("#job-stdout")).ToHaveTextAsync("waiting\n", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("live");

            // Each page notes when it sees the end; a reload would lose the note.
            foreach (var p in new[] { page, overview })
            {
                await p.EvaluateAsync("""
                    () => {
                      window.sawEndAt = null;
                      new MutationObserver(() => {
                        const state = document.getElementById("job-state");
                        const row = document.querySelector("#recent tr[data-job-id] td span.state");
                        if (window.sawEndAt === null && ((state && state.textContent === "COMPLETED" && !document.getElementById("job").hidden)
                            || (!document.getElementById("overview").hidden && document.querySelectorAll("#running tr[data-job-id]").length === 0))) {
                          window.sawEndAt = Date.now();
                        }
                      }).observe(document.body, { subtree: true, childList: true, characterData: true });
                    }
                    """);
            }

            await File.WriteAllTextAsync(marker, "");
            var ended = await WaitForStateAsync(http, job, "COMPLETED");
            var endedAt = ended["time"]!["end"]!.GetValue<DateTimeOffset>().ToUnixTimeMilliseconds();
            foreach (var p in new[] { page, overview })
            {
                var seen = await Poll.UntilAsync(() => p.EvaluateAsync<long?>("() => window.sawEndAt"), t => t is not null, TimeSpan.FromSeconds(10), "the page to show the end");
                Assert.True(seen!.Value - endedAt < 1000, $"the page showed the end {seen - endedAt} ms after it");
            }

            await Assertions.Expect(page.Locator("#job-stdout")).ToHaveTextAsync("waiting\ndone\n");
            await Assertions.Expect(page.Locator("#eff-cpu")).ToContainTextAsync("core-walltime");
            await Assertions.Expect(page.Locator("#eff-mem")).ToContainTextAsync("of 100 MiB");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.ArtifactsDirectory, "job-efficiency.png"), FullPage = true });
        }
    }

    /// <summary>Runs <c>conductor dashboard</c> as a user would and opens the link it prints.</summary>
    internal static async Task LogInWithTheCliLinkAsync(IPage page, ServerProcess server)
    {
        var cli = new Conductor.EndToEnd.Tests.Cli(server, server.WorkDirectory);
        var printed = await cli.RunAsync("dashboard");
        Assert.True(printed.Code == 0, printed.ToString());
        await page.GotoAsync(printed.Stdout.Trim());
        await Assertions.Expect(page.Locator("#account")).ToContainTextAsync("(admin)", new() { Timeout = 15_000 });
        Assert.DoesNotContain("login=", page.Url, StringComparison.Ordinal);
    }

    internal static async Task<string> SubmitAsync(HttpClient http, string workDir, string name, string script, object? extra = null)
    {
        var job = new JsonObject { ["name"] = name, ["current_working_directory"] = workDir, ["time_limit"] = "10" };
        if (extra is not null)
        {
            foreach (var (key, value) in JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(extra))!.AsObject())
            {
                job[key] = value?.DeepClone();
            }
        }

        var response = await http.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = job, ["script"] = script });
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>();
    }

    internal static Task<JsonNode> WaitForStateAsync(HttpClient http, string id, string state) =>
        Poll.UntilAsync(
            async () => JsonNode.Parse(await http.GetStringAsync($"/api/v1/jobs/{id}"))!,
            j => j["state"]!.GetValue<string>() == state, Soon, $"job {id} to be {state}");

    internal static Task<JsonNode> WaitForEndAsync(HttpClient http, string id) =>
        Poll.UntilAsync(
            async () => JsonNode.Parse(await http.GetStringAsync($"/api/v1/jobs/{id}"))!,
            j => j["state"]!.GetValue<string>() is not ("PENDING" or "RUNNING"), Soon, $"job {id} to end");
}
