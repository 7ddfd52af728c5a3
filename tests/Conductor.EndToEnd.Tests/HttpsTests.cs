using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace Conductor.EndToEnd.Tests;

/// <summary>
/// The real server with --tls-cert and --tls-key, a certificate made by the test: clients that trust it talk
/// HTTPS to it (HttpClient and the CLI), a CLI that does not is told so in one sentence.
/// </summary>
public sealed class HttpsTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "conductor-tls-" + Guid.NewGuid().ToString("N")[..8]);
    private X509Certificate2 _certificate = null!;
    private ServerProcess _server = null!;

    private string CertificateFile => Path.Combine(_directory, "cert.pem");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(CertificateFile, _certificate.ExportCertificatePem());
        var keyFile = Path.Combine(_directory, "key.pem");
        await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        _server = await ServerProcess.StartTlsAsync(_certificate, "--cpus", "2", "--memory", "2G", "--tls-cert", CertificateFile, "--tls-key", keyFile);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _certificate.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Server_SpeaksHttps_ToAClientThatTrustsItsCertificate_AndRunsAJob()
    {
        using var client = _server.CreateClient();

        var response = await client.PostAsJsonAsync("/api/v1/jobs", new JsonObject
        {
            ["job"] = new JsonObject { ["current_working_directory"] = _server.WorkDirectory, ["standard_output"] = "tls-%j.out" },
            ["script"] = "#!/bin/bash\necho over-tls\n",
        });
        var id = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["job_id"]!.GetValue<string>();
        var job = await Poll.UntilAsync(async () => JsonNode.Parse(await client.GetStringAsync($"/api/v1/jobs/{id}"))!,
            j => j["state"]!.GetValue<string>() is not ("PENDING" or "RUNNING"), TimeSpan.FromSeconds(30), "the job to end");

        Assert.Equal("https", _server.BaseAddress.Scheme);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("COMPLETED", job["state"]!.GetValue<string>());
        Assert.Equal("over-tls\n", await File.ReadAllTextAsync(Path.Combine(_server.WorkDirectory, $"tls-{id}.out")));
    }

    [Fact]
    public async Task Cli_TalksHttps_WhenTheCertificateIsTrusted_AndSaysSoInOneSentenceWhenItIsNot()
    {
        var trusting = new Cli(_server, _server.WorkDirectory);
        trusting.Environment["SSL_CERT_FILE"] = CertificateFile;
        trusting.Environment["SSL_CERT_DIR"] = _directory;
        var distrusting = new Cli(_server, _server.WorkDirectory);
        distrusting.Environment["SSL_CERT_FILE"] = Path.Combine(_directory, "none.pem");
        distrusting.Environment["SSL_CERT_DIR"] = Path.Combine(_directory, "none");

        var submitted = await trusting.RunAsync("submit", "--parsable", "--wrap", "true");
        var refused = await distrusting.RunAsync("queue");

        Assert.True(submitted.Code == 0, submitted.ToString());
        Assert.Matches("^[0-9]+$", submitted.Stdout.Trim());
        Assert.Equal(3, refused.Code);
        Assert.Contains("certificate", refused.Stderr, StringComparison.Ordinal);
        Assert.Single(refused.Stderr.Trim().Split('\n'));
    }
}
