using System.ComponentModel.DataAnnotations;
using Conductor.Core.Parsing;
using Conductor.Core.Scheduling;
using Conductor.Server.Auth;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Hosting;

/// <summary>How the server listens, authenticates and what it assumes for jobs that say nothing.</summary>
public sealed class ServerOptions
{
    public const string SectionName = "Conductor:Server";

    /// <summary>The directory holding the database, the admin token and job scripts.</summary>
    [Required]
    public string DataDirectory { get; set; } = ".conductor";

    /// <summary>host:port to listen on; loopback unless told otherwise.</summary>
    [Required]
    public string Listen { get; set; } = "127.0.0.1:8642";

    /// <summary>Accept requests without a token. Refused when listening beyond loopback.</summary>
    public bool NoAuth { get; set; }

    /// <summary>
    /// The admin token to accept, instead of the one generated at first start; the servers of a cluster share one
    /// this way (the CLI's <c>CONDUCTOR_ADMIN_TOKEN</c>). Null: read or generate the token file.
    /// </summary>
    public string? AdminToken { get; set; }

    /// <summary>A PEM certificate file: the server then speaks HTTPS only (with <see cref="TlsKey"/>).</summary>
    public string? TlsCertificate { get; set; }

    /// <summary>The PEM private key of <see cref="TlsCertificate"/> (null when the certificate file holds it).</summary>
    public string? TlsKey { get; set; }

    /// <summary>When the server runs as root: the lowest uid a token's user may have (system accounts run no jobs).</summary>
    [Range(0, int.MaxValue)]
    public int MinUid { get; set; } = 1000;

    /// <summary>
    /// An unprivileged server runs every job as itself; this says the users of its tokens file share that Unix user
    /// deliberately (they are then separated in the API only, not from each other's jobs).
    /// </summary>
    public bool SharedUnixUser { get; set; }

    [Required]
    public string DefaultPartition { get; set; } = "default";

    /// <summary>The time limit of a job that gives none, in Slurm's format.</summary>
    [Required]
    public string DefaultTimeLimit { get; set; } = TimeLimitFormat.Unlimited;

    /// <summary>The longest time limit a job may ask for; UNLIMITED for no ceiling.</summary>
    [Required]
    public string MaxTimeLimit { get; set; } = TimeLimitFormat.Unlimited;

    /// <summary>Partitions with limits of their own (default and maximum time, accounts, priority tier, exclusive nodes).</summary>
    public IList<PartitionLimits> Partitions { get; set; } = [];

    /// <summary>Per-user limits: pending jobs (at submit, 429 beyond), running jobs and CPUs (the scheduler holds jobs back).</summary>
    public UserLimits UserLimits { get; set; } = UserLimits.None;

    /// <summary>The largest request body accepted, in bytes.</summary>
    [Range(64 * 1024, 256L * 1024 * 1024)]
    public long MaxRequestBytes { get; set; } = 8 * 1024 * 1024;

    public string DatabasePath => Path.Combine(DataDirectory, "conductor.db");

    public string AdminTokenPath => Path.Combine(DataDirectory, "admin.token");

    public string ScriptsDirectory => Path.Combine(DataDirectory, "scripts");

    /// <summary>The Unix socket on which local users connect without a token (see <see cref="LocalSocket"/>).</summary>
    public string SocketPath => Path.Combine(DataDirectory, "conductor.sock");

    public TimeSpan? DefaultTimeLimitValue => TimeLimitFormat.Parse(DefaultTimeLimit);

    public TimeSpan? MaxTimeLimitValue => TimeLimitFormat.Parse(MaxTimeLimit);
}

/// <summary>Cross-field rules for <see cref="ServerOptions"/>.</summary>
public sealed class ServerOptionsValidator : IValidateOptions<ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        var failures = new List<string>();
        if (!ListenAddress.TryParse(options.Listen, out var listen, out var error))
        {
            failures.Add($"--listen {error}");
        }
        else if (options.NoAuth && !listen.IsLoopback)
        {
            failures.Add($"--no-auth is refused when listening on {options.Listen}: it is only allowed on a loopback address");
        }

        if (options.AdminToken is { Length: > 0 } token && (token.Trim().Length < 16 || token.Trim().Any(char.IsWhiteSpace)))
        {
            failures.Add("the admin token (CONDUCTOR_ADMIN_TOKEN) must be at least 16 characters without spaces");
        }

        if (options.TlsCertificate is { Length: > 0 } certificate)
        {
            try
            {
                using var loaded = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, options.TlsKey);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                failures.Add($"--tls-cert {certificate} cannot be used with its key: {e.Message}");
            }
        }
        else if (options.TlsKey is { Length: > 0 })
        {
            failures.Add("--tls-key needs --tls-cert");
        }

        if (TokenRegistry.StartProblem(options) is { } tokensProblem)
        {
            failures.Add(tokensProblem);
        }

        if (!TimeLimitFormat.TryParse(options.DefaultTimeLimit, out _, out var timeError))
        {
            failures.Add($"the default time limit {timeError}");
        }

        if (!TimeLimitFormat.TryParse(options.MaxTimeLimit, out _, out var maxError))
        {
            failures.Add($"the maximum time limit {maxError}");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
