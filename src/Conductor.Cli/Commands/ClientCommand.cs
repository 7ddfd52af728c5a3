using System.CommandLine;
using Conductor.Cli.Client;
using Conductor.Core.Jobs;
using Spectre.Console;

namespace Conductor.Cli.Commands;

/// <summary>What every client command shares: the --server option, the client, and turning failures into exit codes.</summary>
public static class ClientCommand
{
    public static Option<string?> ServerOption() => new("--server")
    {
        Description = $"The server's URL [${ClientSettings.UrlVariable}, else a local server's socket (no token needed), else {ClientSettings.DefaultUrl}]. " +
            $"The token comes from ${ClientSettings.TokenVariable}, else the local server's .conductor/admin.token.",
        HelpName = "URL",
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print JSON instead of a table." };

    /// <summary>Runs <paramref name="action"/> with a client for the chosen server; a <see cref="CliException"/> becomes one sentence on stderr.</summary>
    public static void SetClientAction(
        this Command command,
        Option<string?> server,
        Func<ParseResult, ConductorClient, CancellationToken, Task<int>> action,
        IReadOnlyDictionary<string, string>? fieldNames = null)
    {
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                using var client = new ConductorClient(ClientSettings.Resolve(parse.GetValue(server))) { FieldNames = fieldNames ?? new Dictionary<string, string>() };
                return await action(parse, client, ct);
            }
            catch (CliException e)
            {
                return ExitCodes.Fail(e.ExitCode, e.Message);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 130;
            }
        });
    }

    /// <summary>Parses job ids (<c>123</c>, <c>123_7</c>, <c>123_[1-5]</c>); a word that is not one is a usage error.</summary>
    public static IReadOnlyList<JobRef> JobIds(IEnumerable<string> words)
    {
        var ids = new List<JobRef>();
        foreach (var word in words)
        {
            if (!JobRef.TryParse(word, out var id, out var error))
            {
                throw new CliException(ExitCodes.Usage, error + ".");
            }

            ids.Add(id);
        }

        return ids;
    }

    /// <summary>A job reference as a segment of an API path.</summary>
    public static string Path(JobRef id) => Uri.EscapeDataString(id.ToString());

    /// <summary>The console for tables: wide enough not to wrap when the output goes to a file or a pipe.</summary>
    public static IAnsiConsole Console()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Out) });
        if (System.Console.IsOutputRedirected)
        {
            console.Profile.Width = 400;
        }

        return console;
    }

    /// <summary>A table without borders, headed like Slurm's commands print theirs.</summary>
    public static Table PlainTable(params string[] columns)
    {
        var table = new Table { Border = TableBorder.None, ShowHeaders = true };
        foreach (var c in columns)
        {
            table.AddColumn(new TableColumn(new Text(c, new Style(decoration: Decoration.Bold))) { NoWrap = true, Padding = new Padding(0, 0, 2, 0) });
        }

        return table;
    }

    /// <summary>Reads state filters: full names (RUNNING) or squeue's codes (R, PD); "all" for every state.</summary>
    public static IReadOnlyList<JobState>? States(string? text, IReadOnlyList<JobState>? fallback)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var states = new List<JobState>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var match = JobStates.All.FirstOrDefault(s => s.ToCompactCode().Equals(part, StringComparison.OrdinalIgnoreCase), (JobState)(-1));
            if ((int)match < 0 && !JobStates.TryParse(part, out match))
            {
                throw new CliException(ExitCodes.Usage,
                    $"--state '{part}' is not a state; use {string.Join(", ", JobStates.All.Select(s => s.ToSlurmName()))}, their short codes (PD, R, CD, ...) or all.");
            }

            states.Add(match);
        }

        return states;
    }
}
