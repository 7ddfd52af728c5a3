using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Conductor.Cli.Commands;
using Conductor.Server.Api;

namespace Conductor.Cli.Client;

/// <summary>A failure the CLI reports as one sentence and an exit code.</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// Where the server is and which token to send. An explicit address wins (<c>--server</c>, then <c>CONDUCTOR_URL</c>),
/// with the token of <c>CONDUCTOR_TOKEN</c> or the local server's <c>admin.token</c>. Otherwise the CLI connects to a
/// local server's Unix socket when it finds one — in <c>$CONDUCTOR_DATA_DIR</c>, else in <c>.conductor</c> here or in a
/// parent directory, else the system's <see cref="SystemSocket"/> — where the kernel tells the server who is asking,
/// as munge does for Slurm, and no token is needed (<c>CONDUCTOR_TOKEN</c> is still sent when set). Last comes
/// <see cref="DefaultUrl"/>.
/// </summary>
/// <param name="SocketPath">The local server's Unix socket; null to use <paramref name="Server"/> over TCP.</param>
public sealed record ClientSettings(Uri Server, string? Token, string? TokenSource, string? SocketPath = null)
{
    public const string DefaultUrl = "http://127.0.0.1:8642";
    public const string UrlVariable = "CONDUCTOR_URL";
    public const string TokenVariable = "CONDUCTOR_TOKEN";
    public const string DataDirVariable = "CONDUCTOR_DATA_DIR";
    public const string TokenFileName = "admin.token";
    public const string SocketFileName = "conductor.sock";

    /// <summary>The socket of a server installed as the system's (<c>conductor server --data-dir /var/lib/conductor</c>).</summary>
    public const string SystemSocket = "/var/lib/conductor/" + SocketFileName;

    /// <summary>What the messages call the server: its URL, or its socket.</summary>
    public string Where => SocketPath ?? Server.ToString();

    public static ClientSettings Resolve(string? serverFlag)
    {
        var given = serverFlag ?? (Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } env ? env : null);
        var explicitToken = Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } token ? token.Trim() : null;
        if (given is null && FindSocket() is { } socket)
        {
            return new ClientSettings(new Uri("http://localhost/"), explicitToken, explicitToken is null ? null : TokenVariable, socket);
        }

        var text = given ?? DefaultUrl;
        if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "http://" + text;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new CliException(ExitCodes.Usage, $"'{text}' is not a server address; use a URL such as {DefaultUrl}.");
        }

        if (explicitToken is not null)
        {
            return new ClientSettings(uri, explicitToken, TokenVariable);
        }

        var file = FindTokenFile();
        if (file is not null)
        {
            try
            {
                return new ClientSettings(uri, File.ReadAllText(file).Trim(), file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another user's server: go on without a token and let the server say it wants one.
            }
        }

        return new ClientSettings(uri, null, null);
    }

    /// <summary>
    /// <c>$CONDUCTOR_DATA_DIR/conductor.sock</c> when that variable is set; else <c>.conductor/conductor.sock</c> here or
    /// in a parent directory, else <see cref="SystemSocket"/>; null when there is none.
    /// </summary>
    private static string? FindSocket()
    {
        if (Environment.GetEnvironmentVariable(DataDirVariable) is { Length: > 0 } dataDir)
        {
            var path = Path.GetFullPath(Path.Combine(dataDir, SocketFileName));
            return File.Exists(path) ? path : null;
        }

        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, ".conductor", SocketFileName);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return File.Exists(SystemSocket) ? SystemSocket : null;
    }

    /// <summary><c>$CONDUCTOR_DATA_DIR/admin.token</c>, else <c>.conductor/admin.token</c> here or in a parent directory.</summary>
    private static string? FindTokenFile()
    {
        if (Environment.GetEnvironmentVariable(DataDirVariable) is { Length: > 0 } dataDir)
        {
            var path = Path.Combine(dataDir, TokenFileName);
            return File.Exists(path) ? path : null;
        }

        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, ".conductor", TokenFileName);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }
}

/// <summary>The REST API as the CLI uses it; every way a request can fail becomes a <see cref="CliException"/>.</summary>
public sealed class ConductorClient : IDisposable
{
    private static readonly JsonSerializerOptions WriteOptions = new(JsonBody.Options) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly HttpClient _http;

    public ConductorClient(ClientSettings settings)
    {
        Settings = settings;
        _http = new HttpClient(Handler(settings.SocketPath)) { BaseAddress = settings.Server, Timeout = TimeSpan.FromSeconds(60) };
        if (settings.Token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Token);
        }
    }

    public ClientSettings Settings { get; }

    /// <summary>Plain TCP (and TLS) for a URL; for a local socket, every connection goes to that socket.</summary>
    private static SocketsHttpHandler Handler(string? socketPath) => socketPath is null ? new SocketsHttpHandler() : new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (Exception)
            {
                socket.Dispose();
                throw;
            }
        },
    };

    /// <summary>Maps the API's snake_case field names to the options a user typed, for error messages.</summary>
    public IReadOnlyDictionary<string, string> FieldNames { get; init; } = new Dictionary<string, string>();

    public Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    public Task<T> PostAsync<T>(string path, object? body, CancellationToken ct) => SendAsync<T>(HttpMethod.Post, path, body, ct);

    public static string Serialize(object value, bool indented = true) =>
        JsonSerializer.Serialize(value, new JsonSerializerOptions(WriteOptions) { WriteIndented = indented, DefaultIgnoreCondition = JsonIgnoreCondition.Never });

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, WriteOptions), Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            var why = e.InnerException switch
            {
                SocketException s => Describe(s.SocketErrorCode),
                System.Security.Authentication.AuthenticationException =>
                    "its TLS certificate is not trusted here; add the certificate (or its CA) to the system's trust store, or point SSL_CERT_FILE at it",
                _ => e.Message.TrimEnd('.'),
            };
            throw new CliException(ExitCodes.Unreachable,
                $"cannot reach the Conductor server at {Settings.Where}: {why}; start one with 'conductor server' or point --server or {ClientSettings.UrlVariable} at it.");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unreachable, $"the Conductor server at {Settings.Where} did not answer within {_http.Timeout.TotalSeconds:0} seconds.");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return JsonSerializer.Deserialize<T>(text, JsonBody.Options)
                        ?? throw new CliException(ExitCodes.Unreachable, $"the server at {Settings.Where} answered {path} with nothing.");
                }
                catch (JsonException)
                {
                    throw new CliException(ExitCodes.Unreachable, $"the server at {Settings.Where} answered {path} with something that is not Conductor's JSON; is --server right?");
                }
            }

            throw Failure(response.StatusCode, text);
        }
    }

    private CliException Failure(HttpStatusCode status, string body)
    {
        string? detail = null;
        var fieldErrors = new List<string>();
        try
        {
            if (JsonNode.Parse(body) is JsonObject problem)
            {
                detail = problem["detail"]?.GetValue<string>();
                if (problem["errors"] is JsonObject errors)
                {
                    foreach (var (field, messages) in errors)
                    {
                        var first = messages is JsonArray { Count: > 0 } list ? list[0]?.GetValue<string>() : messages?.ToString();
                        fieldErrors.Add($"{Name(field)} {first}");
                    }
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not problem+json: fall back to the status.
        }

        var sentence = fieldErrors.Count > 0 ? string.Join("; ", fieldErrors) : detail ?? $"the server answered {(int)status} {status}";
        sentence = sentence.TrimEnd('.') + ".";
        return status switch
        {
            HttpStatusCode.NotFound => new CliException(ExitCodes.NotFound, sentence),
            HttpStatusCode.Unauthorized => new CliException(ExitCodes.Usage, Settings.Token is null
                ? $"the server at {Settings.Where} wants a token: set {ClientSettings.TokenVariable}, or run where the server's data directory (.conductor) is, or set {ClientSettings.DataDirVariable}."
                : $"the server at {Settings.Where} did not accept the token from {Settings.TokenSource}."),
            >= HttpStatusCode.InternalServerError => new CliException(ExitCodes.Unreachable, $"the server failed: {sentence}"),
            _ => new CliException(ExitCodes.Usage, sentence),
        };
    }

    private string Name(string field)
    {
        var key = field.StartsWith("job.", StringComparison.Ordinal) ? field[4..] : field;
        return FieldNames.TryGetValue(key, out var option) ? option : key;
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "nothing is listening there",
        SocketError.HostNotFound or SocketError.NoData => "the host name is unknown",
        SocketError.TimedOut => "the connection timed out",
        _ => error.ToString(),
    };

    public void Dispose() => _http.Dispose();
}
