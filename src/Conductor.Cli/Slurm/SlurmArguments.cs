namespace Conductor.Cli.Slurm;

/// <summary>Whether an option takes a value, as getopt_long's <c>no_argument</c>, <c>required_argument</c>, <c>optional_argument</c>.</summary>
public enum ValueKind
{
    None,
    Required,

    /// <summary>A value only when attached: <c>--option=value</c> or <c>-ovalue</c>.</summary>
    Optional,
}

/// <summary>
/// One option of a Slurm command: its long name, short letter, whether it takes a value, and whether Conductor
/// supports it. <see cref="Refusal"/> holds why an option Slurm knows is refused here; <see cref="Ignored"/> marks
/// one that is accepted and has no effect.
/// </summary>
public sealed record SlurmOption(string Long, char? Short = null, ValueKind Value = ValueKind.None)
{
    public string? Refusal { get; init; }
    public bool Ignored { get; init; }

    public string Display => Short is { } s ? $"-{s}/--{Long}" : $"--{Long}";
}

/// <summary>The options given, in order, and the words that are not options.</summary>
public sealed class ParsedArguments
{
    private readonly List<(SlurmOption Option, string? Value)> _given = [];

    public List<string> Operands { get; } = [];

    public IReadOnlyList<(SlurmOption Option, string? Value)> Given => _given;

    public void Add(SlurmOption option, string? value) => _given.Add((option, value));

    public bool Has(string longName) => _given.Any(g => g.Option.Long == longName);

    /// <summary>The last value given for the option (Slurm's commands let a later option win).</summary>
    public string? Value(string longName) => _given.LastOrDefault(g => g.Option.Long == longName).Value;

    public IEnumerable<string> Values(string longName) => _given.Where(g => g.Option.Long == longName).Select(g => g.Value ?? "");
}

/// <summary>A usage error of a Slurm command: printed as one line on stderr, with the command's exit code.</summary>
public sealed class SlurmUsageException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// Reads arguments as Slurm's commands do with getopt_long: <c>--name=value</c>, <c>--name value</c>, unique
/// prefixes of long names, <c>-c2</c>, <c>-c 2</c> and bundled flags <c>-hX</c>, <c>--</c> ending the options.
/// sbatch and srun stop at the first operand (the script or the command), the others take options anywhere.
/// </summary>
public static class SlurmArguments
{
    /// <param name="usageExitCode">The exit code of an option error: 1, or 255 for sbatch and srun, as theirs.</param>
    public static ParsedArguments Parse(string program, IReadOnlyList<string> args, IReadOnlyList<SlurmOption> options, bool stopAtFirstOperand, int usageExitCode = 1)
    {
        try
        {
            return ParseOrThrow(program, args, options, stopAtFirstOperand);
        }
        catch (SlurmUsageException e) when (e.ExitCode != usageExitCode)
        {
            throw new SlurmUsageException(e.Message, usageExitCode);
        }
    }

    private static ParsedArguments ParseOrThrow(string program, IReadOnlyList<string> args, IReadOnlyList<SlurmOption> options, bool stopAtFirstOperand)
    {
        var parsed = new ParsedArguments();
        for (var i = 0; i < args.Count; i++)
        {
            var word = args[i];
            if (word == "--")
            {
                parsed.Operands.AddRange(args.Skip(i + 1));
                break;
            }

            if (word.StartsWith("--", StringComparison.Ordinal))
            {
                var eq = word.IndexOf('=', StringComparison.Ordinal);
                var name = eq < 0 ? word[2..] : word[2..eq];
                var option = FindLong(program, name, options, word);
                string? value = eq < 0 ? null : word[(eq + 1)..];
                if (option.Value == ValueKind.None && value is not null)
                {
                    throw new SlurmUsageException($"{program}: option '--{option.Long}' doesn't allow an argument");
                }

                if (option.Value == ValueKind.Required && value is null)
                {
                    if (i + 1 >= args.Count)
                    {
                        throw new SlurmUsageException($"{program}: option '--{option.Long}' requires an argument");
                    }

                    value = args[++i];
                }

                Accept(program, parsed, option, value);
                continue;
            }

            if (word.Length > 1 && word[0] == '-')
            {
                for (var k = 1; k < word.Length; k++)
                {
                    var letter = word[k];
                    var option = options.FirstOrDefault(o => o.Short == letter)
                        ?? throw new SlurmUsageException($"{program}: invalid option -- '{letter}'");
                    if (option.Value == ValueKind.None)
                    {
                        Accept(program, parsed, option, null);
                        continue;
                    }

                    string? value = k + 1 < word.Length ? word[(k + 1)..] : null;
                    if (value is null && option.Value == ValueKind.Required)
                    {
                        if (i + 1 >= args.Count)
                        {
                            throw new SlurmUsageException($"{program}: option requires an argument -- '{letter}'");
                        }

                        value = args[++i];
                    }

                    Accept(program, parsed, option, value);
                    break;
                }

                continue;
            }

            if (stopAtFirstOperand)
            {
                parsed.Operands.AddRange(args.Skip(i));
                break;
            }

            parsed.Operands.Add(word);
        }

        return parsed;
    }

    private static SlurmOption FindLong(string program, string name, IReadOnlyList<SlurmOption> options, string word)
    {
        var exact = options.FirstOrDefault(o => o.Long == name);
        if (exact is not null)
        {
            return exact;
        }

        var prefixed = name.Length == 0 ? [] : options.Where(o => o.Long.StartsWith(name, StringComparison.Ordinal)).ToList();
        return prefixed.Count switch
        {
            1 => prefixed[0],
            0 => throw new SlurmUsageException($"{program}: unrecognized option '{word}'"),
            _ => throw new SlurmUsageException($"{program}: option '{word}' is ambiguous"),
        };
    }

    private static void Accept(string program, ParsedArguments parsed, SlurmOption option, string? value)
    {
        if (option.Refusal is { } why)
        {
            throw new SlurmUsageException($"{program}: error: {option.Display} {why}");
        }

        parsed.Add(option, value);
    }
}
