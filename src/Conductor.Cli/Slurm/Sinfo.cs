using System.Globalization;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>sinfo: partitions and nodes, grouped by state as Slurm prints them.</summary>
public static class Sinfo
{
    public static readonly IReadOnlyList<SlurmOption> Options =
    [
        new("noheader", 'h'), new("Node", 'N'), new("format", 'o', ValueKind.Required), new("partition", 'p', ValueKind.Required),
        new("long", 'l'), new("summarize", 's'), new("nodes", 'n', ValueKind.Required), new("states", 't', ValueKind.Required),
        new("dead", 'd'), new("responding", 'r'), new("help"), new("usage"), new("version", 'V'),
        new("all", 'a') { Ignored = true }, new("exact", 'e') { Ignored = true }, new("verbose", 'v') { Ignored = true },
        new("noconvert") { Ignored = true }, new("local") { Ignored = true }, new("federation") { Ignored = true }, new("hide") { Ignored = true },
        new("iterate", 'i', ValueKind.Required) { Refusal = "is not supported by Conductor" },
        new("Format", 'O', ValueKind.Required) { Refusal = "is not supported by this Conductor server yet; use -o" },
        new("list-reasons", 'R'),
        new("reservation", 'T') { Refusal = "is not supported by Conductor" },
        new("sort", 'S', ValueKind.Required) { Refusal = "is not supported by this Conductor server yet" },
        new("clusters", 'M', ValueKind.Required) { Refusal = "is not supported by Conductor: it runs one cluster" },
        new("json") { Refusal = "is not supported by this Conductor server yet" },
        new("yaml") { Refusal = "is not supported by Conductor" },
    ];

    private sealed record Cell(NodeView? Node, PartitionView Partition);

    private sealed record Field(char Code, string Header, bool Aggregate, Func<Cell, string> Value);

    private static readonly Field[] Fields =
    [
        new('P', "PARTITION", false, c => c.Partition.Name + (c.Partition.Default ? "*" : "")),
        new('R', "PARTITION", false, c => c.Partition.Name),
        new('a', "AVAIL", false, _ => "up"),
        new('l', "TIMELIMIT", false, c => Time(c.Partition.MaxTimeSeconds)),
        new('L', "DEFAULTTIME", false, c => c.Partition.DefaultTimeSeconds is null ? "n/a" : Time(c.Partition.DefaultTimeSeconds)),
        new('D', "NODES", true, _ => ""),
        new('t', "STATE", false, c => c.Node is null ? "n/a" : ShortState(c.Node)),
        new('T', "STATE", false, c => c.Node is null ? "n/a" : LongState(c.Node)),
        new('N', "NODELIST", true, _ => ""),
        new('n', "HOSTNAMES", true, _ => ""),
        new('c', "CPUS", false, c => c.Node is null ? "0" : N(c.Node.Cpus)),
        new('C', "CPUS(A/I/O/T)", true, _ => ""),
        new('m', "MEMORY", false, c => c.Node is null ? "0" : N(c.Node.MemoryMib)),
        new('e', "FREE_MEM", false, c => c.Node is null ? "0" : N(c.Node.MemoryMib - c.Node.MemoryAllocatedMib)),
        new('O', "CPU_LOAD", false, _ => "N/A"),
        new('f', "AVAIL_FEATURES", false, _ => "(null)"),
        new('b', "ACTIVE_FEATURES", false, _ => "(null)"),
        new('G', "GRES", false, c => c.Node?.Gres ?? "(null)"),
        new('E', "REASON", false, c => c.Node?.Reason ?? "none"),
        new('u', "USER", false, c => c.Node?.ReasonUser ?? "Unknown"),
        new('H', "TIMESTAMP", false, c => SlurmFormat.Date(c.Node?.ReasonTime, "Unknown")),
        new('z', "S:C:T", false, c => c.Node is null ? "0:0:0" : $"{N(c.Node.Cpus)}:1:1"),
        new('s', "JOB_SIZE", false, _ => "1"),
        new('h', "OVERSUBSCRIBE", false, _ => "NO"),
        new('F', "NODES(A/I/O/T)", true, _ => ""),
        new('A', "NODES(A/I)", true, _ => ""),
        new('w', "WEIGHT", false, _ => "1"),
    ];

    public static async Task<int> RunAsync(SlurmContext context, string[] args, CancellationToken ct)
    {
        var parsed = SlurmArguments.Parse(context.Program, args, Options, stopAtFirstOperand: false);
        if (context.AnswersHelpOrVersion(parsed, "Usage: sinfo [-h] [-N] [-l] [-R] [-s] [-o format] [-p partitions] [-n nodes] [-t states]"))
        {
            return 0;
        }

        if (parsed.Operands.Count > 0)
        {
            throw new SlurmUsageException($"{context.Program}: error: Unrecognized option: {parsed.Operands[0]}");
        }

        using var client = context.Connect();
        var partitions = await client.GetAsync<List<PartitionView>>("/api/v1/partitions", ct);
        var nodes = await client.GetAsync<List<NodeView>>("/api/v1/nodes", ct);
        var wantedPartitions = Split(parsed.Values("partition"));
        var wantedNodes = Split(parsed.Values("nodes"));
        var wantedStates = Split(parsed.Values("states")).Select(s => s.ToLowerInvariant()).ToList();
        partitions = partitions.Where(p => wantedPartitions.Count == 0 || wantedPartitions.Contains(p.Name)).ToList();
        bool NodeWanted(NodeView n) =>
            (wantedNodes.Count == 0 || wantedNodes.Contains(n.Name)) &&
            (wantedStates.Count == 0 || wantedStates.Contains(ShortState(n).TrimEnd('*')) || wantedStates.Contains(LongState(n).TrimEnd('*'))) &&
            (!parsed.Has("dead") || n.State == "DOWN") &&
            (!parsed.Has("responding") || n.State != "DOWN");

        var byNode = parsed.Has("Node");
        var width = Math.Max(9, partitions.Select(p => p.Name.Length + (p.Default ? 1 : 0)).DefaultIfEmpty(0).Max());
        var nodeWidth = Math.Max(9, nodes.Select(n => n.Name.Length).DefaultIfEmpty(0).Max());
        var reasons = parsed.Has("list-reasons");
        var format = parsed.Value("format") ?? Environment.GetEnvironmentVariable("SINFO_FORMAT") ?? (byNode, parsed.Has("long"), parsed.Has("summarize")) switch
        {
            _ when reasons => "%20E %9u %19H %N",
            (true, true, _) => $"%{nodeWidth}N %.6D %.{width}P %.11T %4c %.8z %.6m %.8d %.6w %.8f %20E",
            (true, false, _) => $"%{nodeWidth}N %.6D %.{width}P %6t",
            (false, _, true) => $"%{width}P %.5a %.10l %.16F  %N",
            (false, true, _) => $"%{width}P %.5a %.10l %.10s %.4r %.8h %.10g %.6D %.11T %N",
            _ => $"%{width}P %.5a %.10l %.6D %.6t %N",
        };
        var items = ParseFormat(context.Program, format);

        if (parsed.Has("long"))
        {
            context.Out.WriteLine(DateTimeOffset.Now.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture));
        }

        if (!parsed.Has("noheader"))
        {
            context.Out.WriteLine(string.Concat(items.Select(i => i.Field is null ? i.Literal : SlurmFormat.Fit(i.Field.Header, i.Width, i.Right))));
        }

        if (reasons)
        {
            // sinfo -R: the nodes that are down or drained, one line per reason, whatever their partitions.
            foreach (var group in nodes.Where(n => n.Reason is not null && n.State != "UP" && NodeWanted(n))
                         .Select(n => new Cell(n, partitions.FirstOrDefault(p => p.Nodes.Contains(n.Name)) ?? new PartitionView("", false, null, null, [], 0, 0)))
                         .GroupBy(c => string.Join('\u0001', items.Where(i => i.Field is { Aggregate: false }).Select(i => i.Field!.Value(c)))))
            {
                var cells = group.ToList();
                context.Out.WriteLine(string.Concat(items.Select(i => i.Field is null ? i.Literal : SlurmFormat.Fit(Value(i.Field, cells), i.Width, i.Right))));
            }

            return 0;
        }

        foreach (var partition in partitions)
        {
            var members = nodes.Where(n => partition.Nodes.Contains(n.Name) && NodeWanted(n)).ToList();
            var groups = new List<List<Cell>>();
            if (members.Count == 0)
            {
                if (wantedNodes.Count == 0 && wantedStates.Count == 0 && !byNode)
                {
                    groups.Add([new Cell(null, partition)]);
                }
            }
            else if (byNode || parsed.Has("summarize"))
            {
                groups.AddRange(byNode ? members.Select(n => new List<Cell> { new(n, partition) }) : [members.Select(n => new Cell(n, partition)).ToList()]);
            }
            else
            {
                // One line for each set of nodes that print alike.
                foreach (var group in members.Select(n => new Cell(n, partition))
                             .GroupBy(c => string.Join('\u0001', items.Where(i => i.Field is { Aggregate: false }).Select(i => i.Field!.Value(c)))))
                {
                    groups.Add(group.ToList());
                }
            }

            foreach (var group in groups)
            {
                context.Out.WriteLine(string.Concat(items.Select(i => i.Field is null ? i.Literal : SlurmFormat.Fit(Value(i.Field, group), i.Width, i.Right))));
            }
        }

        return 0;
    }

    private static string Value(Field field, List<Cell> cells)
    {
        var nodes = cells.Where(c => c.Node is not null).Select(c => c.Node!).ToList();
        return field.Code switch
        {
            'D' => N(nodes.Count),
            'N' or 'n' => SlurmFormat.HostList(nodes.Select(n => n.Name)),
            'C' => $"{N(nodes.Sum(n => n.CpusAllocated))}/{N(nodes.Sum(n => n.CpusIdle))}/{N(nodes.Sum(n => n.Cpus - n.CpusAllocated - n.CpusIdle))}/{N(nodes.Sum(n => n.Cpus))}",
            'F' => $"{N(nodes.Count(n => n.CpusAllocated > 0))}/{N(nodes.Count(n => n.CpusAllocated == 0 && n.State == "UP"))}/{N(nodes.Count(n => n.State != "UP"))}/{N(nodes.Count)}",
            'A' => $"{N(nodes.Count(n => n.CpusAllocated > 0))}/{N(nodes.Count(n => n.CpusAllocated == 0 && n.State == "UP"))}",
            _ => field.Value(cells[0]),
        };
    }

    private sealed record Item(string Literal, Field? Field, int Width, bool Right);

    private static List<Item> ParseFormat(string program, string format)
    {
        var items = new List<Item>();
        var literal = new System.Text.StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                literal.Append(format[i]);
                continue;
            }

            if (literal.Length > 0)
            {
                items.Add(new Item(literal.ToString(), null, 0, false));
                literal.Clear();
            }

            var j = i + 1;
            var right = j < format.Length && format[j] == '.';
            if (right)
            {
                j++;
            }

            var start = j;
            while (j < format.Length && char.IsAsciiDigit(format[j]))
            {
                j++;
            }

            var width = j > start ? int.Parse(format[start..j], CultureInfo.InvariantCulture) : 0;
            var field = j < format.Length ? Array.Find(Fields, f => f.Code == format[j]) : null;
            if (field is null)
            {
                // Slurm fields Conductor has no value for (%d, %g, %r ...) print as such.
                var code = j < format.Length ? format[j] : ' ';
                field = new Field(code, code switch { 'd' => "TMP_DISK", 'g' => "GROUPS", 'r' => "ROOT", 'p' => "PRIO_TIER", _ => throw new SlurmUsageException($"{program}: error: Invalid node format specification: %{code}") },
                    false, _ => code switch { 'd' => "0", 'g' => "all", 'r' => "no", _ => "1" });
            }

            items.Add(new Item("", field, width, right));
            i = j;
        }

        if (literal.Length > 0)
        {
            items.Add(new Item(literal.ToString(), null, 0, false));
        }

        return items;
    }

    /// <summary>sinfo's short node states: idle, mix, alloc, drain, drng, down*.</summary>
    private static string ShortState(NodeView n) => n.State switch
    {
        "UP" when n.CpusAllocated == 0 => "idle",
        "UP" when n.CpusAllocated >= n.Cpus => "alloc",
        "UP" => "mix",
        "DRAINING" => "drng",
        "DRAINED" => "drain",
        "DOWN" => "down*",
        _ => n.State.ToLowerInvariant(),
    };

    private static string LongState(NodeView n) => n.State switch
    {
        "UP" when n.CpusAllocated == 0 => "idle",
        "UP" when n.CpusAllocated >= n.Cpus => "allocated",
        "UP" => "mixed",
        "DRAINING" => "draining",
        "DRAINED" => "drained",
        "DOWN" => "down*",
        _ => n.State.ToLowerInvariant(),
    };

    /// <summary>sinfo's TIMELIMIT: <c>infinite</c>, or <c>D-HH:MM:SS</c>, <c>H:MM:SS</c>, <c>M:SS</c>.</summary>
    private static string Time(double? seconds) => seconds is { } s ? SlurmFormat.Short(TimeSpan.FromSeconds(s)) : "infinite";

    private static string N(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static List<string> Split(IEnumerable<string> lists) =>
        lists.SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
}
