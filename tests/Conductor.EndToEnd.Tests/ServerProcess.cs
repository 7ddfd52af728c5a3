using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;

namespace Conductor.EndToEnd.Tests;

/// <summary>A real `conductor server` process on a free loopback port with its own data directory.</summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string[] _args;

    private ServerProcess(Process process, string root, int port, string logPath, string[] args, X509Certificate2? certificate)
    {
        _process = process;
        _args = args;
        Root = root;
        Port = port;
        LogPath = logPath;
        Certificate = certificate;
        BaseAddress = new Uri($"{(certificate is null ? "http" : "https")}://127.0.0.1:{port}");
    }

    /// <summary>The certificate of a server that speaks HTTPS, which its clients trust (and no other); null for HTTP.</summary>
    public X509Certificate2? Certificate { get; }

    public string Root { get; }
    public string DataDirectory => Path.Combine(Root, "data");
    public string WorkDirectory => Path.Combine(Root, "work");
    public int Port { get; }
    public string LogPath { get; }
    public Uri BaseAddress { get; }
    public string Token { get; private set; } = "";
    public int ProcessId => _process.Id;

    public static Task<ServerProcess> StartAsync(params string[] extraArgs) => StartListeningAsync("127.0.0.1", extraArgs);

    /// <summary>Starts a server bound to <paramref name="host"/> (e.g. 0.0.0.0); the tests still reach it over loopback.</summary>
    public static Task<ServerProcess> StartListeningAsync(string host, params string[] extraArgs) =>
        StartInAsync(Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..10]), host, FreePort(), extraArgs);

    /// <summary>Starts a server whose data directory <paramref name="prepare"/> fills first (a tokens file, an accounts file).</summary>
    public static Task<ServerProcess> StartPreparedAsync(Action<string> prepare, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(prepare);
        var root = Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path.Combine(root, "data"));
        prepare(Path.Combine(root, "data"));
        return StartInAsync(root, "127.0.0.1", FreePort(), extraArgs);
    }

    /// <summary>Starts a server that speaks HTTPS with <paramref name="certificate"/> (its files given in <paramref name="extraArgs"/>).</summary>
    public static Task<ServerProcess> StartTlsAsync(X509Certificate2 certificate, params string[] extraArgs) =>
        StartInAsync(Path.Combine(Path.GetTempPath(), "conductor-e2e-" + Guid.NewGuid().ToString("N")[..10]), "127.0.0.1", FreePort(), extraArgs, certificate);

    /// <summary>Starts the same server again (same data directory, port and flags), e.g. after <see cref="Kill"/>.</summary>
    public Task<ServerProcess> RestartAsync() => StartInAsync(Root, "127.0.0.1", Port, _args, Certificate);

    /// <summary>kill -9 of the server process alone; its jobs run in their own sessions and are not touched.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 9);
            await _process.WaitForExitAsync();
        }
    }

    private static async Task<ServerProcess> StartInAsync(string root, string host, int port, string[] extraArgs, X509Certificate2? certificate = null)
    {
        Directory.CreateDirectory(Path.Combine(root, "work"));
        var logPath = Path.Combine(root, "server.log");
        var dll = Path.Combine(AppContext.BaseDirectory, "conductor.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { dll, "server", "--data-dir", Path.Combine(root, "data"), "--listen", $"{host}:{port}", "--node", "e2e-node" })
        {
            start.ArgumentList.Add(a);
        }

        foreach (var a in extraArgs)
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the server");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new ServerProcess(process, root, port, logPath, extraArgs, certificate);
        using var probe = new HttpClient(server.Handler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        await Poll.UntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with code {process.ExitCode}: {server.ReadLog()}");
            }

            try
            {
                return (await probe.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }, ok => ok, TimeSpan.FromSeconds(60), "the server to answer /healthz");
        server.Token = (await File.ReadAllTextAsync(Path.Combine(root, "data", "admin.token"))).Trim();
        return server;
    }

    public HttpClient CreateClient(bool authenticated = true)
    {
        var client = new HttpClient(Handler()) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (authenticated)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        }

        return client;
    }

    /// <summary>A handler that trusts this server's own certificate, pinned by its thumbprint, and nothing else.</summary>
    public HttpMessageHandler Handler() => Certificate is not { } trusted ? new HttpClientHandler() : new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented is not null && presented.Thumbprint == trusted.Thumbprint,
    };

    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>SIGTERM, as an operator or a service manager stops the server; returns its exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15);
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
                throw new TimeoutException($"The server did not stop within {timeout.TotalSeconds} s of SIGTERM.");
            }
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await CancelEverythingAsync();
        try
        {
            await StopAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            // already killed
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a job may still hold a file; the temp directory is cleaned by the system
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Cancels every job that has not ended and waits for their processes to go: a stopped server leaves running
    /// jobs running (for the next start to adopt), and a test must not leave processes behind.
    /// </summary>
    public async Task CancelEverythingAsync()
    {
        if (_process.HasExited || Token.Length == 0)
        {
            return;
        }

        try
        {
            using var client = CreateClient();
            var page = System.Text.Json.Nodes.JsonNode.Parse(await client.GetStringAsync("/api/v1/jobs?state=PENDING,RUNNING&limit=1000"))!;
            foreach (var job in page["jobs"]!.AsArray())
            {
                await client.PostAsync($"/api/v1/jobs/{job!["job_id"]!.GetValue<string>()}/cancel", null);
            }

            await Poll.UntilAsync(
                async () => System.Text.Json.Nodes.JsonNode.Parse(await client.GetStringAsync("/api/v1/dashboard"))!["cpus"]!["allocated"]!.GetValue<int>(),
                n => n == 0, TimeSpan.FromSeconds(30), "the cancelled jobs to end");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or TimeoutException)
        {
            // The server is going away anyway.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
