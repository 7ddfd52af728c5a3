using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Conductor.EndToEnd.Tests;

/// <summary>/metrics in Prometheus text format, and what / and /api/v1 answer.</summary>
[Collection("server")]
public sealed partial class MetricsAndDashboardTests(ServerFixture fixture)
{
    [Fact]
    public async Task Metrics_ParseAsPrometheusText_AndHaveTheSchedulerSeries()
    {
        var id = await fixture.SubmitAsync("#!/bin/bash\ntrue\n");
        await fixture.WaitForStateAsync(id, TimeSpan.FromSeconds(20), "COMPLETED");
        using var anonymous = fixture.Server.CreateClient(authenticated: false);

        // The duration is recorded once a later scheduling pass sees the job's allocation gone.
        var samples = await Poll.UntilAsync(
            async () => Parse(await anonymous.GetStringAsync("/metrics")),
            s => s.ContainsKey("conductor_job_duration_seconds_count{state=\"COMPLETED\"}"),
            TimeSpan.FromSeconds(20), "the duration of a completed job in /metrics");

        Assert.True(samples["conductor_jobs{state=\"COMPLETED\"}"] >= 1);
        Assert.True(samples.ContainsKey("conductor_jobs{state=\"PENDING\"}"));
        Assert.True(samples.ContainsKey("conductor_jobs{state=\"OUT_OF_MEMORY\"}"));
        Assert.True(samples.ContainsKey("conductor_queue_depth"));
        Assert.Equal(2, samples["conductor_node_cpus{node=\"e2e-node\"}"]);
        Assert.True(samples.ContainsKey("conductor_node_cpus_allocated{node=\"e2e-node\"}"));
        Assert.True(samples["conductor_job_start_latency_seconds_count"] >= 1);
        Assert.True(samples["conductor_scheduler_pass_seconds_count"] >= 1);
        Assert.True(samples.ContainsKey("conductor_scheduler_pass_seconds_bucket{le=\"+Inf\"}"));
        Assert.True(samples.ContainsKey("process_cpu_seconds_total"));
    }

    [Fact]
    public async Task Root_GivesBrowsersTheDashboard_AndOthersTheServiceDescription()
    {
        using var anonymous = fixture.Server.CreateClient(authenticated: false);

        using var html = new HttpRequestMessage(HttpMethod.Get, "/");
        html.Headers.Accept.ParseAdd("text/html,application/xhtml+xml,*/*;q=0.8");
        var page = await anonymous.SendAsync(html);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/assets/app.js", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);

        foreach (var asset in new[] { "/assets/app.js", "/assets/app.css" })
        {
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(asset)).StatusCode);
        }

        var json = JsonNode.Parse(await anonymous.GetStringAsync("/"))!;
        Assert.Equal("Conductor", json["service"]!.GetValue<string>());
        var api = JsonNode.Parse(await anonymous.GetStringAsync("/api/v1"))!;
        Assert.Equal("/metrics", api["metrics"]!.GetValue<string>());
        Assert.EndsWith("admin.token", api["admin_token_file"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_WantAToken_WhenTheServerListensBeyondLoopback()
    {
        await using var server = await ServerProcess.StartListeningAsync("0.0.0.0", "--cpus", "1");
        using var anonymous = server.CreateClient(authenticated: false);
        using var client = server.CreateClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/metrics")).StatusCode);
        Assert.Null(JsonNode.Parse(await anonymous.GetStringAsync("/api/v1"))!["admin_token_file"]);
    }

    /// <summary>Parses the Prometheus text exposition format strictly enough to fail on anything malformed.</summary>
    private static Dictionary<string, double> Parse(string text)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var meta = MetaLine().Match(line);
                Assert.True(meta.Success, $"not a HELP or TYPE line: {line}");
                if (meta.Groups["kind"].Value == "TYPE")
                {
                    Assert.Contains(meta.Groups["rest"].Value, new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                    types[meta.Groups["name"].Value] = meta.Groups["rest"].Value;
                }

                continue;
            }

            var sample = SampleLine().Match(line);
            Assert.True(sample.Success, $"not a sample line: {line}");
            var value = sample.Groups["value"].Value;
            var number = value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples[sample.Groups["name"].Value + sample.Groups["labels"].Value] = number;
        }

        Assert.Equal("gauge", types["conductor_jobs"]);
        Assert.Equal("histogram", types["conductor_scheduler_pass_seconds"]);
        return samples;
    }

    [GeneratedRegex(@"^# (?<kind>HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) ?(?<rest>.*)$")]
    private static partial Regex MetaLine();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{([a-zA-Z_][a-zA-Z0-9_]*=""([^""\\]|\\.)*"",?)*\})? (?<value>\S+)( -?\d+)?$")]
    private static partial Regex SampleLine();
}
