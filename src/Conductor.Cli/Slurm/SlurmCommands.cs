using System.Runtime.InteropServices;
using System.Text;
using Conductor.Cli.Client;
using Conductor.Cli.Commands;
using Conductor.Core.Jobs;
using Conductor.Server.Api;

namespace Conductor.Cli.Slurm;

/// <summary>What a Slurm command is given to run: its name, its output streams and a way to reach the server.</summary>
public sealed class SlurmContext(string program, TextWriter stdout, TextWriter stderr)
{
    /// <summary>The version every command reports, as Slurm's <c>--version</c> does.</summary>
    public const string Version = "slurm 22.05.8 (Conductor)";

    /// <summary>Prints the usage for <c>--help</c>/<c>--usage</c>, or the version for <c>--version</c>; whether either was asked.</summary>
    public bool AnswersHelpOrVersion(ParsedArguments parsed, params string[] usage)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        if (parsed.Has("help") || parsed.Has("usage"))
        {
            foreach (var line in usage)
            {
                Out.WriteLine(line);
            }

            return true;
        }

        if (parsed.Has("version"))
        {
            Out.WriteLine(Version);
            return true;
        }

        return false;
    }

    public string Program { get; } = program;
    public TextWriter Out { get; } = stdout;
    public TextWriter Error { get; } = stderr;

    /// <param name="fieldNames">The options a user typed for the API's fields, for error messages.</param>
    public ConductorClient Connect(IReadOnlyDictionary<string, string>? fieldNames = null) =>
        new(ClientSettings.Resolve(null)) { FieldNames = fieldNames ?? new Dictionary<string, string>() };

    /// <summary>Slurm's one-line error on stderr: <c>squeue: error: ...</c>.</summary>
    public void Fail(string message) => Error.WriteLine($"{Program}: error: {message}");

    public void Warn(string message) => Error.WriteLine($"{Program}: warning: {message}");

    /// <summary>The account of the caller's token, for --me and -u.</summary>
    public static async Task<string> WhoAmIAsync(ConductorClient client, CancellationToken ct) =>
        (await client.GetAsync<WhoAmIView>("/api/v1/whoami", ct)).Account;

    /// <summary>
    /// Parses a comma-separated list of job ids (<c>123</c>, <c>123_7</c>, <c>123_[1-5]</c>, whose brackets may hold
    /// commas); a word that is not one is Slurm's "Invalid job id".
    /// </summary>
    public IReadOnlyList<JobRef> JobIds(IEnumerable<string> lists)
    {
        var ids = new List<JobRef>();
        foreach (var word in lists.SelectMany(SplitIds))
        {
            if (!JobRef.TryParse(word, out var id, out _))
            {
                throw new SlurmUsageException($"{Program}: error: Invalid job id: {word}");
            }

            ids.Add(id);
        }

        return ids;
    }

    /// <summary>A list split at the commas outside brackets: <c>1,2_[1,3]</c> is <c>1</c> and <c>2_[1,3]</c>.</summary>
    private static IEnumerable<string> SplitIds(string list)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= list.Length; i++)
        {
            if (i == list.Length || (list[i] == ',' && depth == 0))
            {
                var word = list[start..i].Trim();
                if (word.Length > 0)
                {
                    yield return word;
                }

                start = i + 1;
            }
            else if (list[i] == '[')
            {
                depth++;
            }
            else if (list[i] == ']')
            {
                depth = Math.Max(0, depth - 1);
            }
        }
    }

    /// <summary>A job reference as a segment of an API path.</summary>
    public static string Path(JobRef id) => Uri.EscapeDataString(id.ToString());
}

/// <summary>
/// Slurm's own commands — sbatch, squeue, scancel, sacct, sinfo, scontrol, srun — run by the conductor executable
/// as <c>conductor slurm NAME ARGS</c>, which the launchers written by <c>conductor slurm-commands DIR</c> call.
/// </summary>
public static class SlurmCommands
{
    /// <summary>The word before the command's name on the conductor command line.</summary>
    public const string Verb = "slurm";

    public static IReadOnlyList<string> Names { get; } = ["sbatch", "squeue", "scancel", "sacct", "sinfo", "scontrol", "srun"];

    public static bool IsInvocation(string[] args) => args.Length >= 2 && args[0] == Verb && Names.Contains(args[1]);

    /// <summary>Runs one command; usage errors and server failures are one line on stderr and exit code 1.</summary>
    public static async Task<int> RunAsync(string name, string[] args, CancellationToken ct)
    {
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = false };
        var context = new SlurmContext(name, stdout, Console.Error);
        try
        {
            return name switch
            {
                "sbatch" => await Sbatch.RunAsync(context, args, ct),
                "squeue" => await Squeue.RunAsync(context, args, ct),
                "scancel" => await Scancel.RunAsync(context, args, ct),
                "sacct" => await Sacct.RunAsync(context, args, ct),
                "sinfo" => await Sinfo.RunAsync(context, args, ct),
                "scontrol" => await Scontrol.RunAsync(context, args, ct),
                "srun" => await Srun.RunAsync(context, args, ct),
                _ => throw new SlurmUsageException($"{name}: not a Slurm command Conductor provides"),
            };
        }
        catch (SlurmUsageException e)
        {
            await stdout.FlushAsync(CancellationToken.None);
            Console.Error.WriteLine(e.Message);
            return e.ExitCode;
        }
        catch (CliException e)
        {
            await stdout.FlushAsync(CancellationToken.None);
            context.Fail(e.Message.TrimEnd('.'));
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 130;
        }
        finally
        {
            await stdout.FlushAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// Writes one executable launcher per command into <paramref name="directory"/>. Each runs this build of the
    /// conductor executable directly (no build check, no <c>dotnet run</c>), so it starts as fast as the CLI can.
    /// <paramref name="serverUrl"/> and <paramref name="dataDirectory"/>, when given, become the defaults of
    /// <c>CONDUCTOR_URL</c> and <c>CONDUCTOR_DATA_DIR</c>.
    /// </summary>
    public static IReadOnlyList<string> WriteLaunchers(string directory, string? serverUrl = null, string? dataDirectory = null)
    {
        Directory.CreateDirectory(directory);
        var command = ExecCommand();
        var defaults = new StringBuilder();
        if (dataDirectory is not null)
        {
            defaults.Append(CultureInvariant($"[ -n \"${{{ClientSettings.TokenVariable}:-}}\" ] || : \"${{{ClientSettings.DataDirVariable}:={InDoubleQuotes(Path.GetFullPath(dataDirectory))}}}\"; export {ClientSettings.DataDirVariable}\n"));
        }

        if (serverUrl is not null)
        {
            // The server's socket, when there is one, serves every local user without a token; the URL is the fallback.
            var url = CultureInvariant($": \"${{{ClientSettings.UrlVariable}:={InDoubleQuotes(serverUrl)}}}\"; export {ClientSettings.UrlVariable}");
            defaults.Append(dataDirectory is null
                ? url + "\n"
                : CultureInvariant($"[ -S \"${{{ClientSettings.DataDirVariable}:-}}/{ClientSettings.SocketFileName}\" ] || {{ {url}; }}\n"));
        }

        var written = new List<string>();
        foreach (var name in Names)
        {
            var path = Path.Combine(directory, name);
            var text = $"#!/bin/sh\n# Slurm's {name}, provided by Conductor (written by 'conductor slurm-commands').\n{defaults}{command} {Verb} {name} \"$@\"\n";
            var temp = path + ".tmp";
            File.WriteAllText(temp, text);
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            File.Move(temp, path, overwrite: true);
            written.Add(path);
        }

        return written;
    }

    /// <summary>The shell words that start this build of conductor: its native launcher when there is one, else <c>dotnet conductor.dll</c>.</summary>
    private static string ExecCommand()
    {
        var baseDir = AppContext.BaseDirectory;
        var apphost = Path.Combine(baseDir, "conductor");
        var dll = Path.Combine(baseDir, "conductor.dll");
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory();

        // <root>/shared/Microsoft.NETCore.App/<version>/ → <root>
        var dotnetRoot = Path.GetFullPath(Path.Combine(runtimeDir, "..", "..", ".."));
        if (File.Exists(apphost))
        {
            return $"export DOTNET_ROOT=\"${{DOTNET_ROOT:-{InDoubleQuotes(dotnetRoot)}}}\"\nexec {Quote(apphost)}";
        }

        var dotnet = Path.Combine(dotnetRoot, "dotnet");
        return $"exec {Quote(File.Exists(dotnet) ? dotnet : "dotnet")} {Quote(dll)}";
    }

    /// <summary>Escapes a word for the inside of sh's double quotes.</summary>
    private static string InDoubleQuotes(string word)
    {
        var result = new StringBuilder();
        foreach (var c in word)
        {
            if (c is '\\' or '"' or '$' or '`')
            {
                result.Append('\\');
            }

            result.Append(c);
        }

        return result.ToString();
    }

    private static string CultureInvariant(FormattableString s) => FormattableString.Invariant(s);

    /// <summary>Single-quotes a word for sh.</summary>
    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
