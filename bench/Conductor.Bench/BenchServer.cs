using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Conductor.Bench;

/// <summary>
/// A real <c>conductor server</c> in its own process, on a free loopback port and a fresh temporary data
/// directory; disposing it stops the server with SIGTERM (SIGKILL if it does not exit) and deletes the directory.
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private BenchServer(Process process, string dataDirectory, string workDirectory, Uri baseAddress, string token, StreamWriter log)
    {
        _process = process;
        DataDirectory = dataDirectory;
        WorkDirectory = workDirectory;
        BaseAddress = baseAddress;
        Token = token;
        _log = log;
    }

    public string DataDirectory { get; }

    /// <summary>A scratch directory beside the data directory, for job working directories and scripts.</summary>
    public string WorkDirectory { get; }

    public Uri BaseAddress { get; }

    public string Token { get; }

    public int Pid => _process.Id;

    public string DatabasePath => Path.Combine(DataDirectory, "conductor.db");

    public static async Task<BenchServer> StartAsync(string cliDll, int cpus, string? extraArgs = null)
    {
        var root = Directory.CreateTempSubdirectory("conductor-bench-").FullName;
        var data = Path.Combine(root, "data");
        var work = Path.Combine(root, "work");
        Directory.CreateDirectory(work);
        // CONDUCTOR_BENCH_PORT pins the port (for a machine where each user keeps to a range).
        var port = int.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_BENCH_PORT"), CultureInfo.InvariantCulture, out var pinned) ? pinned : FreePort();
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // As ./conductor starts it: with the server's runtime settings, when the build has them.
        var serverConfig = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(cliDll))!, "conductor.server.runtimeconfig.json");
        if (File.Exists(serverConfig))
        {
            foreach (var arg in new[] { "exec", "--runtimeconfig", serverConfig })
            {
                psi.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in new[]
                 {
                     cliDll, "server", "--data-dir", data, "--listen", $"127.0.0.1:{port}",
                     "--cpus", cpus.ToString(CultureInfo.InvariantCulture), "--node", "bench", "--kill-wait", "2s",
                 })
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var arg in (extraArgs ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            psi.ArgumentList.Add(arg);
        }

        var log = new StreamWriter(Path.Combine(root, "server.log")) { AutoFlush = true };
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the server");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                await log.DisposeAsync();
                var text = await File.ReadAllTextAsync(Path.Combine(root, "server.log"));
                Directory.Delete(root, recursive: true);
                throw new InvalidOperationException($"the server exited with code {process.ExitCode} at start:\n{text}");
            }

            try
            {
                using var response = await probe.GetAsync(new Uri(baseAddress, "healthz"));
                if (response.IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("the server did not answer /healthz within 60 s");
            }

            await Task.Delay(50);
        }

        var token = (await File.ReadAllTextAsync(Path.Combine(data, "admin.token"))).Trim();
        return new BenchServer(process, data, work, baseAddress, token, log);
    }

    /// <summary>The server's resident set size now and at its peak, in MiB, from /proc/PID/status.</summary>
    public (double RssMiB, double PeakMiB) Memory()
    {
        double rss = double.NaN, peak = double.NaN;
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kib(line) / 1024.0;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kib(line) / 1024.0;
            }
        }

        return (rss, peak);

        static double Kib(string line) =>
            double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    /// <summary>CPU seconds (user + system) the server process has used so far, from /proc/PID/stat.</summary>
    public double CpuSeconds()
    {
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

        // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks / 100.0;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"the server (pid {Pid}) did not stop on SIGTERM within 40 s; killing it");
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        _process.Dispose();
        await _log.DisposeAsync();
        var root = Path.GetDirectoryName(DataDirectory)!;
        if (Environment.GetEnvironmentVariable("CONDUCTOR_BENCH_KEEP") == "1")
        {
            Console.Error.WriteLine($"kept {root}");
        }
        else
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    private static int _nextPort;

    /// <summary>A free loopback port; from CONDUCTOR_BENCH_PORT on, one more each time, when that is set.</summary>
    private static int FreePort()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_BENCH_PORT"), CultureInfo.InvariantCulture, out var first))
        {
            return first + Interlocked.Increment(ref _nextPort) - 1;
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
