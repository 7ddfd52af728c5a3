using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// 10,000 malformed or hostile requests over loopback (random bodies, types, ids, headers and content types) against
/// a real server: none answers 5xx, no connection is dropped, and the server is healthy afterwards.
/// </summary>
public sealed class FuzzTests
{
    private const int Requests = 10_000;
    private const int Parallel = 8;

    private static readonly string[] Paths =
    [
        "/api/v1/jobs", "/api/v1/jobs/{id}", "/api/v1/jobs/{id}/cancel", "/api/v1/jobs/{id}/events", "/api/v1/jobs/{id}/output",
        "/jobs/submit", "/jobs/query/{id}", "/jobs/cancel/{id}", "/api/v1/nodes", "/api/v1/dashboard", "/dashboard", "/api/v1/whoami",
        "/api/v1/jobs?state={id}&limit={id}&after={id}", "/api/v1/jobs/{id}/output?stream={id}&offset={id}&limit={id}",
    ];

    private static readonly string[] Ids =
    [
        "1", "0", "-1", "99999999999999999999", "1_2", "abc", "%00", "..%2F..%2Fetc%2Fpasswd", "1%20OR%201=1", "' OR '1'='1",
        "9223372036854775807", "1e9", "", "%FF%FE", "\u00e9", "RUNNING,PENDING", "stdout", "stderr",
    ];

    private static readonly string[] ContentTypes =
    [
        "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/json; charset=utf-16", "application/xml", "", "garbage/;;;", "application/merge-patch+json",
    ];

    private static readonly string[] Bodies =
    [
        "", "{", "}", "null", "[]", "{}", "\"job\"", "{\"job\":null}", "{\"job\":{}}", "{\"job\":[],\"script\":{}}",
        "{\"job\":{\"cpus_per_task\":\"many\"},\"script\":\"#!/bin/bash\\ntrue\"}",
        "{\"job\":{\"cpus_per_task\":1e400,\"time_limit\":-5},\"script\":1}",
        "{\"job\":{\"current_working_directory\":\"relative\",\"standard_output\":\"/dev/tty\"},\"script\":\"#!/bin/bash\"}",
        "{\"job\":{\"environment\":{\"A\":[1,2]},\"uid\":\"root\"},\"script\":\"x\"}",
        "{\"job\":{\"hold\":true,\"current_working_directory\":\"/tmp\",\"name\":\"\\u0000\\n\"},\"script\":\"#!/bin/bash\\ntrue\"}",
    ];

    [Fact]
    public async Task TenThousandHostileRequests_NeverGetA5xx_NorADroppedConnection()
    {
        await using var server = await ServerProcess.StartAsync("--cpus", "1");
        var failures = new List<string>();
        var statuses = new int[600];
        var next = -1;

        async Task WorkerAsync(int seed)
        {
            var random = new Random(seed);
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            while (Interlocked.Increment(ref next) < Requests)
            {
                using var request = Build(random, server.Token);
                try
                {
                    using var response = await client.SendAsync(request);
                    _ = await response.Content.ReadAsByteArrayAsync();
                    Interlocked.Increment(ref statuses[(int)response.StatusCode]);
                    if ((int)response.StatusCode >= 500)
                    {
                        lock (failures)
                        {
                            failures.Add($"{request.Method} {request.RequestUri} -> {(int)response.StatusCode}");
                        }
                    }
                }
                catch (HttpRequestException e)
                {
                    lock (failures)
                    {
                        failures.Add($"{request.Method} {request.RequestUri} -> {e.Message}");
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Parallel).Select(i => WorkerAsync(17 + i)));

        Assert.True(failures.Count == 0, $"{failures.Count} failures, e.g. {string.Join("; ", failures.Take(5))}");
        Assert.Equal(Requests, statuses.Sum());
        using var healthy = server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await healthy.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await healthy.GetAsync("/api/v1/jobs?limit=10")).StatusCode);
    }

    private static HttpRequestMessage Build(Random random, string adminToken)
    {
        var methods = new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch };
        var path = Pick(random, Paths).Replace("{id}", Pick(random, Ids), StringComparison.Ordinal);
        var request = new HttpRequestMessage(Pick(random, methods), path);
        switch (random.Next(4))
        {
            case 0:
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + adminToken);
                break;
            case 1:
                request.Headers.TryAddWithoutValidation("Authorization", Pick(random, ["Bearer ", "Basic abc", "Bearer " + new string('x', 5000), "Bearer %FF\t"]));
                break;
            case 2:
                request.Headers.TryAddWithoutValidation("Origin", Pick(random, ["http://evil.example", "null", "://", "http://127.0.0.1"]));
                break;
        }

        if (request.Method != HttpMethod.Get)
        {
            var body = random.Next(5) == 0 ? RandomBytes(random) : Encoding.UTF8.GetBytes(Mutate(random, Pick(random, Bodies)));
            request.Content = new ByteArrayContent(body);
            var type = Pick(random, ContentTypes);
            if (type.Length > 0)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
        }

        if (random.Next(10) == 0)
        {
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", new string('9', random.Next(1, 2000)));
            request.Headers.TryAddWithoutValidation("Accept", Pick(random, ["*/*", "text/html", "application/json;q=abc", ""]));
        }

        return request;
    }

    private static string Mutate(Random random, string body)
    {
        if (body.Length == 0 || random.Next(3) == 0)
        {
            return body;
        }

        var chars = body.ToCharArray();
        var position = random.Next(chars.Length);
        chars[position] = (char)random.Next(0, 0x2FF);
        return random.Next(4) == 0 ? new string('[', random.Next(1, 3000)) : new string(chars);
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 4096)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];
}
