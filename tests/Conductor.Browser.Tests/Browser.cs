using Microsoft.Playwright;

namespace Conductor.Browser.Tests;

/// <summary>Debian's Chromium, driven by Playwright without any browser download.</summary>
public static class Browser
{
    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>CI sets CONDUCTOR_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("CONDUCTOR_REQUIRE_BROWSER") == "1";

    public static bool Available => File.Exists(ChromiumPath);

    public static string MissingMessage =>
        $"Chromium is not installed at {ChromiumPath}; install Debian's package with 'apt-get install -y chromium' (.ci/run does).";

    /// <summary>Where screenshots go: the test results directory when run-tests gives one, else a temporary directory.</summary>
    public static string ArtifactsDirectory
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable("CONDUCTOR_TEST_ARTIFACTS") is { Length: > 0 } d
                ? d
                : Path.Combine(Path.GetTempPath(), "conductor-browser-tests");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!Available)
        {
            throw new InvalidOperationException(MissingMessage);
        }

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            Timeout = 60_000,
        });
        return (playwright, browser);
    }
}

/// <summary>A test that needs Chromium: skipped with the reason when it is missing, unless CI requires it (then it fails).</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (!Browser.Available && !Browser.Required)
        {
            Skip = Browser.MissingMessage + " Set CONDUCTOR_REQUIRE_BROWSER=1 to make this a failure.";
        }
    }
}
