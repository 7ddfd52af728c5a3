using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Conductor.Core.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Conductor.Server.Api;

/// <summary>Reads request bodies as JSON and turns every way they can be wrong into a field-level 4xx.</summary>
public static class JsonBody
{
    /// <summary>The wire format: snake_case names; numbers accepted where Slurm users write them as words.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, CancellationToken ct)
        where T : class
    {
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, Options, ct);
            return value is null
                ? (null, Problems.Validation("The request body must be a JSON object.", "body", "must be a JSON object, not null"))
                : (value, null);
        }
        catch (JsonException e)
        {
            var field = FieldOf(e.Path);
            return field is null
                ? (null, Problems.Validation("The request body is not valid JSON.", "body", $"is not valid JSON: {FirstSentence(e.Message)}"))
                : (null, Problems.Validation($"The field '{field}' has a value of the wrong type.", field, "has a value of the wrong type or is malformed"));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problems.TooLarge());
        }
    }

    private static string? FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return null;
        }

        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..(end + 1)];
    }

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DictionaryKeyPolicy = null,
            MaxDepth = 16,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { AcceptNumbersForWords } },
        };
        return options;
    }

    // time_limit "5" and 5, memory_per_node "1024" and 1024 mean the same thing to a Slurm user.
    private static void AcceptNumbersForWords(JsonTypeInfo info)
    {
        if (info.Type != typeof(JobSpecInput) && info.Type != typeof(Jobs.JobUpdateInput) && info.Type != typeof(SignalRequestBody))
        {
            return;
        }

        foreach (var property in info.Properties)
        {
            if (property.PropertyType == typeof(string) && property.Name is "time_limit" or "memory_per_node" or "memory_per_cpu" or "begin" or "signal")
            {
                property.CustomConverter = new StringOrNumberConverter();
            }
        }
    }

    private sealed class StringOrNumberConverter : JsonConverter<string>
    {
        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString(),
                JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
                JsonTokenType.Null => null,
                _ => throw new JsonException("expected a string or a number"),
            };

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }
}

/// <summary>The RFC 7807 answers the API gives.</summary>
public static class Problems
{
    public static ProblemHttpResult Validation(string detail, string field, string message) =>
        Validation(detail, new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemHttpResult Validation(string detail, IDictionary<string, string[]> errors) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "The request is not valid.",
            Detail = detail,
        });

    /// <summary>Spec fields are named as they sit in the body, under "job."; the script and the job object itself stand alone.</summary>
    public static ProblemHttpResult Invalid(ValidationErrors errors, string prefix) =>
        Validation(errors.Summary(), errors.ToDictionary().ToDictionary(
            kv => kv.Key is "script" or "job" ? kv.Key : prefix + kv.Key,
            kv => kv.Value,
            StringComparer.Ordinal));

    public static ProblemHttpResult NotFound(string what) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found.", detail: $"{what} does not exist or is not yours.");

    public static ProblemHttpResult TooLarge() =>
        TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]>
        {
            ["script"] = [$"may be at most {JobSpecBuilder.MaxScriptBytes / (1024 * 1024)} MiB; the request body was larger than the server accepts"],
        })
        {
            Status = StatusCodes.Status413PayloadTooLarge,
            Title = "The request is too large.",
            Detail = "The request body is larger than the server accepts; a job script may be at most 4 MiB.",
        });

    public static ProblemHttpResult BadJobId(string text) =>
        Validation($"'{Shorten(text)}' is not a job id.", "job_id", "must be a job id: N, N_T for task T of array N, or N_[T-U] for some of its tasks");

    /// <summary>A task reference (<c>A_k</c>) to tasks the array does not have.</summary>
    public static ProblemHttpResult NoSuchTasks(string text, string message) =>
        Validation($"'{Shorten(text)}' names no task of an array.", "job_id", message);

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";
}
