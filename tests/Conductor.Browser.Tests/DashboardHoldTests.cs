using System.Text.Json.Nodes;
using Conductor.EndToEnd.Tests;
using Microsoft.Playwright;

namespace Conductor.Browser.Tests;

/// <summary>Holds and dependencies on the dashboard, in a real Chromium against a real server.</summary>
public sealed class DashboardHoldTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(30);

    private static async Task<string> StateAsync(HttpClient http, string id) =>
        JsonNode.Parse(await http.GetStringAsync($"/api/v1/jobs/{id}"))!["state"]!.GetValue<string>();

    [BrowserFact]
    public async Task HeldJob_IsReleasedFromTheOverview_AndItsDependentShowsTheDependencyOnItsPage()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "2", "--memory", "4G", "--kill-wait", "2s");
        using var http = server.CreateClient();
        var held = await DashboardPagesTests.SubmitAsync(http, server.WorkDirectory, "held-first", "#!/bin/bash\ntrue\n", new { hold = true });
        var dependent = await DashboardPagesTests.SubmitAsync(http, server.WorkDirectory, "waits-for-it", "#!/bin/bash\ntrue\n",
            new { dependency = $"afterok:{held}" });

        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
            var consoleErrors = new List<string>();
            page.Console += (_, m) =>
            {
                if (m.Type == "error")
                {
                    consoleErrors.Add(m.Text);
                }
            };
            await DashboardPagesTests.LogInWithTheCliLinkAsync(page, server);

            // The dependent job's page names what it waits for, and has no Release button: it is not held.
            await page.GotoAsync(new Uri(server.BaseAddress, $"/#/jobs/{dependent}").ToString());
            await Assertions.Expect(page.Locator("#job-details")).ToContainTextAsync($"afterok:{held}(unfulfilled)", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator("#job-details")).ToContainTextAsync("Dependency");
            await Assertions.Expect(page.Locator("#job-release")).ToBeHiddenAsync();
            await Assertions.Expect(page.Locator("#job-hold")).ToBeVisibleAsync();
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.ArtifactsDirectory, "job-dependency.png"), FullPage = true });

            // The overview lists the held job with a Release button; the dependent job has none.
            await page.GotoAsync(server.BaseAddress.ToString());
            var heldRow = page.Locator($"#pending tr[data-job-id='{held}']");
            await Assertions.Expect(heldRow).ToContainTextAsync("JobHeldUser", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator($"#pending tr[data-job-id='{dependent}']")).ToContainTextAsync("Dependency");
            await Assertions.Expect(page.Locator($"#pending tr[data-job-id='{dependent}'] button.release")).ToHaveCountAsync(0);

            await heldRow.Locator("button.release").ClickAsync();
            await Poll.UntilAsync(() => StateAsync(http, dependent), s => s == "COMPLETED", Soon, $"job {dependent} to run once {held} was released");
            Assert.Equal("COMPLETED", await StateAsync(http, held));
            await Assertions.Expect(page.Locator($"#recent tr[data-job-id='{dependent}']")).ToContainTextAsync("COMPLETED", new() { Timeout = 15_000 });
            Assert.Empty(consoleErrors);
        }
    }
}
