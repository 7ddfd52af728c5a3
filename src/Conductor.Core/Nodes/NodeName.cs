namespace Conductor.Core.Nodes;

/// <summary>The name of a compute node, as it appears in NODELIST.</summary>
public readonly record struct NodeName
{
    public NodeName(string value)
    {
        if (!IsValid(value))
        {
            throw new ArgumentException($"'{value}' is not a valid node name: use letters, digits, '.', '-' or '_' (at most 64).", nameof(value));
        }

        Value = value;
    }

    public string Value { get; }

    public override string ToString() => Value;

    public static bool IsValid(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= 64 &&
        value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');
}
