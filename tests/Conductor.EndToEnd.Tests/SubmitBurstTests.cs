using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Conductor.Core.Jobs;
using Conductor.Core.Storage;
using Conductor.Server.Jobs;
using Conductor.Storage.Sqlite;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// Submits that arrive together share one insert (the server's group commit), yet each request keeps its own answer:
/// its own id, or its own field errors.
/// </summary>
[Collection("server")]
public sealed class SubmitBurstTests(ServerFixture fixture)
{
    [Fact]
    public async Task ConcurrentSubmits_EachGetItsOwnIdOrItsOwnErrors()
    {
        var dir = fixture.NewWorkDir();
        var requests = Enumerable.Range(0, 48).Select(async i =>
        {
            // Every fourth asks for no CPU at all; the others are held, so that nothing runs.
            var job = new JsonObject { ["name"] = $"burst-{i}", ["current_working_directory"] = dir, ["hold"] = true };
            if (i % 4 == 3)
            {
                job["cpus_per_task"] = 0;
            }

            var response = await fixture.Client.PostAsJsonAsync("/api/v1/jobs", new JsonObject { ["job"] = job, ["script"] = $"#!/bin/bash\necho {i}\n" });
            return (i, response.StatusCode, Body: JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
        });

        var answers = await Task.WhenAll(requests);

        var ids = new List<string>();
        foreach (var (i, status, body) in answers)
        {
            if (i % 4 == 3)
            {
                Assert.Equal(HttpStatusCode.BadRequest, status);
                Assert.True(body["errors"]!.AsObject().ContainsKey("job.cpus_per_task"), body.ToJsonString());
                continue;
            }

            Assert.Equal(HttpStatusCode.Created, status);
            var id = body["job_id"]!.GetValue<string>();
            ids.Add(id);
            var stored = await fixture.GetJobAsync(id);
            Assert.Equal($"burst-{i}", stored["detail"]!["name"]!.GetValue<string>());
        }

        Assert.Equal(36, ids.Distinct().Count());
        foreach (var id in ids)
        {
            (await fixture.Client.PostAsync($"/api/v1/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        }
    }

    [Fact]
    public async Task SubmitQueue_FailsOnlyTheRefusedJob_WhenItsBatchCannotBeCommitted()
    {
        var path = Path.Combine(fixture.NewWorkDir(), "queue.db");
        await using var store = new SqliteStore(new SqliteStoreOptions { DatabasePath = path });
        var queue = new SubmitQueue(store);
        var at = DateTimeOffset.UnixEpoch.AddYears(56);
        JobSpec Spec(string? name) => new() { Name = name!, Account = "alice", Partition = "batch", CpusPerTask = 1, WorkDir = "/tmp" };

        // A refused job (no name, which the database requires) among 40 submitted at once.
        var submits = Enumerable.Range(0, 40)
            .Select(i => Task.Run(() => queue.SubmitAsync(new NewJob(Spec(i == 17 ? null : $"job-{i}"), "#!/bin/sh\ntrue\n", at))))
            .ToArray();
        await Assert.ThrowsAnyAsync<Exception>(() => submits[17]);

        var ids = new Dictionary<int, JobId>();
        for (var i = 0; i < submits.Length; i++)
        {
            if (i != 17)
            {
                ids[i] = await submits[i];
            }
        }

        Assert.Equal(39, ids.Values.Distinct().Count());
        foreach (var (i, id) in ids)
        {
            Assert.Equal($"job-{i}", (await store.GetAsync(id, CancellationToken.None))!.Spec.Name);
        }
    }
}
