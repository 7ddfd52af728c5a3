using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>Bad input gets a 4xx that names the field, never a 500, and the server goes on.</summary>
[Collection("server")]
public sealed class ValidationTests(ServerFixture fixture)
{
    public static TheoryData<string, string, string> BadSpecs => new()
    {
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "memory_per_node": "16GB"}, "script": "#!/bin/bash\ntrue"}""", "job.memory_per_node" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "cpus_per_task": 0}, "script": "#!/bin/bash\ntrue"}""", "job.cpus_per_task" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "time_limit": "abc"}, "script": "#!/bin/bash\ntrue"}""", "job.time_limit" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "relative/dir"}, "script": "#!/bin/bash\ntrue"}""", "job.current_working_directory" },
        { "/api/v1/jobs", """{"job": {}, "script": "#!/bin/bash\ntrue"}""", "job.current_working_directory" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp"}}""", "script" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp"}, "script": "   "}""", "script" },
        { "/api/v1/jobs", """{"script": "#!/bin/bash\ntrue"}""", "job" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "cpus_per_task": "many"}, "script": "x"}""", "job.cpus_per_task" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "cpus_per_task": 64}, "script": "#!/bin/bash\ntrue"}""", "job.cpus_per_task" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "partition": "gpu"}, "script": "#!/bin/bash\ntrue"}""", "job.partition" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "memory_per_node": "1T"}, "script": "#!/bin/bash\ntrue"}""", "job.memory_per_node" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "environment": {"A": 1}}, "script": "x"}""", "job.environment.A" },
        { "/api/v1/jobs", """{"job": {"current_working_directory": "/tmp", "standard_output": "out-%q.txt"}, "script": "x"}""", "job.standard_output" },
        { "/jobs/submit", """{"job": {"account": "a", "current_working_directory": "/tmp", "memory_per_node": "16GB", "time_limit": "5"}, "script": "#!/bin/bash\ntrue"}""", "job.memory_per_node" },
        { "/jobs/submit", """{"job": {"account": "a", "current_working_directory": "/tmp", "time_limit": "abc"}, "script": "#!/bin/bash\ntrue"}""", "job.time_limit" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public async Task Submit_Returns400NamingTheField_WhenAFieldIsWrong(string route, string body, string field)
    {
        var response = await fixture.Client.PostAsync(route, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!;
        var errors = problem["errors"]!.AsObject();
        Assert.True(errors.ContainsKey(field), $"expected an error for {field}: {text}");
        Assert.False(string.IsNullOrWhiteSpace(problem["detail"]?.GetValue<string>()));
    }

    [Fact]
    public async Task Submit_Returns400_WhenTheBodyIsNotJson()
    {
        var response = await fixture.Client.PostAsync("/api/v1/jobs", new StringContent("this is { not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.NotNull(problem["errors"]!["body"]);

        var compat = await fixture.Client.PostAsync("/jobs/submit", new StringContent("[1,2", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, compat.StatusCode);
    }

    [Fact]
    public async Task Submit_Returns413NamingTheScript_WhenTheScriptIsHuge()
    {
        var script = "#!/bin/bash\n" + new string('#', 20 * 1024 * 1024);
        var body = new JsonObject { ["job"] = new JsonObject { ["current_working_directory"] = "/tmp" }, ["script"] = script }.ToJsonString();

        // Like curl with a large body: ask first, and wait for the answer, so the server refuses before the upload.
        using var handler = new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(60) };
        using var client = new HttpClient(handler) { BaseAddress = fixture.Server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = fixture.Client.DefaultRequestHeaders.Authorization;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/jobs") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.NotNull(problem["errors"]!["script"]);

        // A script just over the script limit but inside the body limit gets a 400 on the script field.
        var big = "#!/bin/bash\n" + new string('#', (4 * 1024 * 1024) + 10);
        var bigBody = new JsonObject { ["job"] = new JsonObject { ["current_working_directory"] = "/tmp" }, ["script"] = big }.ToJsonString();
        var bigResponse = await fixture.Client.PostAsync("/api/v1/jobs", new StringContent(bigBody, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bigResponse.StatusCode);
        Assert.NotNull(JsonNode.Parse(await bigResponse.Content.ReadAsStringAsync())!["errors"]!["script"]);
    }

    [Theory]
    [InlineData("/api/v1/jobs/abc")]
    [InlineData("/api/v1/jobs/-1/events")]
    [InlineData("/jobs/query/abc")]
    public async Task Get_Returns400_ForAnIdThatIsNotANumber(string url)
    {
        var response = await fixture.Client.GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]!["job_id"]);
    }

    [Theory]
    [InlineData("/api/v1/jobs?state=BOGUS", "state")]
    [InlineData("/api/v1/jobs?limit=0", "limit")]
    [InlineData("/api/v1/jobs?after=x", "after")]
    [InlineData("/api/v1/jobs/1/output?stream=stdin", "stream")]
    public async Task Queries_Return400NamingTheParameter_WhenWrong(string url, string field)
    {
        var response = await fixture.Client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.NotNull(JsonNode.Parse(text)!["errors"]![field]);
    }

    [Fact]
    public async Task Server_KeepsServing_AfterBadInput()
    {
        await fixture.Client.PostAsync("/api/v1/jobs", new StringContent("\u0000\u0001", Encoding.UTF8, "application/json"));
        var health = await fixture.Client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Submit_AcceptsJson_WhateverTheContentTypeHeaderSays()
    {
        // curl -d without -H sends application/x-www-form-urlencoded.
        var body = """{"job": {"current_working_directory": "/tmp", "hold": true}, "script": "#!/bin/bash\ntrue"}""";
        var response = await fixture.Client.PostAsync("/api/v1/jobs", new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>();
        await fixture.Client.PostAsync($"/api/v1/jobs/{id}/cancel", null);
    }
}
