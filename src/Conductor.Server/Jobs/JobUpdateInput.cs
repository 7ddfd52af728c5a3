namespace Conductor.Server.Jobs;

/// <summary>The fields of a job an update may change, as the API receives them (snake_case, as at submit).</summary>
public sealed record JobUpdateInput
{
    public string? Name { get; init; }
    public string? TimeLimit { get; init; }
    public int? Nice { get; init; }
    public string? Partition { get; init; }
    public int? CpusPerTask { get; init; }
    public string? MemoryPerNode { get; init; }
    public string? Gres { get; init; }
    public string? Dependency { get; init; }
    public string? Begin { get; init; }

    public bool IsEmpty => this == new JobUpdateInput();
}
