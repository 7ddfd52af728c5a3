using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Conductor.Bench;

/// <summary>The few calls of the REST API that the benchmarks make.</summary>
internal sealed class ConductorClient : IDisposable
{
    private readonly HttpClient _http;

    public ConductorClient(BenchServer server)
    {
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = server.BaseAddress,
            Timeout = TimeSpan.FromSeconds(120),
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
    }

    /// <summary>Submits a one-CPU job with the given script; returns its id.</summary>
    public async Task<long> SubmitAsync(string script, string workDir, string name = "bench", string? timeLimit = null, CancellationToken ct = default) =>
        await SubmitAsync(script, workDir, name, timeLimit, array: null, ct);

    /// <summary>Submits a one-CPU job, or an array of them when <paramref name="array"/> is given (e.g. <c>1-5000</c>); returns its id.</summary>
    public async Task<long> SubmitAsync(string script, string workDir, string name, string? timeLimit, string? array, CancellationToken ct = default)
    {
        var job = new JsonObject
        {
            ["name"] = name,
            ["current_working_directory"] = workDir,
            ["cpus_per_task"] = 1,
        };
        if (timeLimit is not null)
        {
            job["time_limit"] = timeLimit;
        }

        if (array is not null)
        {
            job["array"] = array;
        }

        var body = new JsonObject { ["job"] = job, ["script"] = script };
        using var content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri("api/v1/jobs", UriKind.Relative), content, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"submit answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        }

        var answer = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        return long.Parse(answer.GetProperty("job_id").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<JsonElement> GetJobAsync(long id, CancellationToken ct = default) =>
        await GetJsonAsync($"api/v1/jobs/{id}", ct);

    public async Task<JsonElement> GetJsonAsync(string path, CancellationToken ct = default)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative), ct);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>(ct);
    }

    /// <summary>Fetches a path and throws the body away; for timing reads.</summary>
    public async Task<int> GetBytesAsync(string path, CancellationToken ct = default)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative), ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadAsByteArrayAsync(ct)).Length;
    }

    /// <summary>The number of scheduling passes so far and the seconds they took in all, from <c>/metrics</c>.</summary>
    public async Task<(long Passes, double Seconds)> PassesAsync(CancellationToken ct = default)
    {
        using var response = await _http.GetAsync(new Uri("metrics", UriKind.Relative), ct);
        response.EnsureSuccessStatusCode();
        var text = await response.Content.ReadAsStringAsync(ct);
        double Value(string name) => text.Split('\n')
            .Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .FirstOrDefault();
        return ((long)Value("conductor_scheduler_pass_seconds_count"), Value("conductor_scheduler_pass_seconds_sum"));
    }

    /// <summary>The dashboard's job counts by state (and TOTAL).</summary>
    public async Task<Dictionary<string, long>> CountsAsync(CancellationToken ct = default)
    {
        var dashboard = await GetJsonAsync("api/v1/dashboard", ct);
        return dashboard.GetProperty("jobs").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64(), StringComparer.Ordinal);
    }

    public async Task CancelAsync(long id, CancellationToken ct = default)
    {
        using var response = await _http.PostAsync(new Uri($"api/v1/jobs/{id}/cancel", UriKind.Relative), null, ct);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Waits until the job is in one of the states; polls every <paramref name="interval"/>.</summary>
    public async Task<JsonElement> WaitForStateAsync(long id, TimeSpan interval, TimeSpan timeout, params string[] states)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var job = await GetJobAsync(id);
            var state = job.GetProperty("state").GetString();
            if (states.Contains(state))
            {
                return job;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"job {id} is still {state} after {timeout.TotalSeconds} s");
            }

            await Task.Delay(interval);
        }
    }

    public void Dispose() => _http.Dispose();
}
