using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Client;

/// <summary>What <c>conductor show --json</c> prints.</summary>
public sealed record JobDocument(JobView Job, IReadOnlyList<JobEventView> Events);

/// <summary>What <c>conductor queue --json</c> and <c>conductor history --json</c> print.</summary>
public sealed record JobsDocument(IReadOnlyList<JobView> Jobs);

/// <summary>What <c>conductor nodes --json</c> prints.</summary>
public sealed record NodesDocument(IReadOnlyList<NodeView> Nodes);

/// <summary>What <c>conductor seff --json</c> prints.</summary>
public sealed record EfficiencyDocument(string JobId, string State, JobUsageView Usage, JobEfficiencyView? Efficiency);

/// <summary>
/// The JSON contracts of the CLI, generated at build time rather than found by reflection, so that the native
/// build of the client commands (which has no reflection-based serializer) reads and writes exactly what the
/// managed one does. Every type the CLI sends, receives or prints is listed here; a type missing from the list is a
/// programming error that <see cref="TypeInfo{T}"/> names.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(JobView))]
[JsonSerializable(typeof(JobListView))]
[JsonSerializable(typeof(List<JobEventView>))]
[JsonSerializable(typeof(List<NodeView>))]
[JsonSerializable(typeof(List<PartitionView>))]
[JsonSerializable(typeof(WhoAmIView))]
[JsonSerializable(typeof(CancelResponse))]
[JsonSerializable(typeof(HoldResponse))]
[JsonSerializable(typeof(JobActionResponse))]
[JsonSerializable(typeof(NodeActionResponse))]
[JsonSerializable(typeof(SignalRequestBody))]
[JsonSerializable(typeof(DrainRequest))]
[JsonSerializable(typeof(Conductor.Server.Jobs.JobUpdateInput))]
[JsonSerializable(typeof(OutputView))]
[JsonSerializable(typeof(LoginCodeView))]
[JsonSerializable(typeof(SubmitRequest))]
[JsonSerializable(typeof(SubmitResponse))]
[JsonSerializable(typeof(JobSpecInput))]
[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(JobDocument))]
[JsonSerializable(typeof(JobsDocument))]
[JsonSerializable(typeof(NodesDocument))]
[JsonSerializable(typeof(EfficiencyDocument))]
public sealed partial class ClientJsonContext : JsonSerializerContext;

/// <summary>The serializer settings of the CLI: the API's wire format (snake_case names, web defaults).</summary>
public static class ClientJson
{
    /// <summary>For reading the server's answers.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        TypeInfoResolver = ClientJsonContext.Default,
    };

    /// <summary>The contract of <typeparamref name="T"/> under <paramref name="options"/>.</summary>
    public static JsonTypeInfo<T> TypeInfo<T>(JsonSerializerOptions options) => (JsonTypeInfo<T>)TypeInfo(typeof(T), options);

    public static JsonTypeInfo TypeInfo(Type type, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            return options.GetTypeInfo(type);
        }
        catch (NotSupportedException e)
        {
            throw new InvalidOperationException($"The CLI has no JSON contract for {type.Name}; list it with [JsonSerializable] on {nameof(ClientJsonContext)}.", e);
        }
    }
}
