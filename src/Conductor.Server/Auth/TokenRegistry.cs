using System.Security.Cryptography;
using System.Text;
using Conductor.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Auth;

/// <summary>
/// The tokens the server accepts: the admin token (written at first start to a file only the owner can
/// read) and account tokens from the optional <c>tokens</c> file (one <c>ACCOUNT TOKEN</c> pair a line).
/// </summary>
public sealed class TokenRegistry
{
    private readonly Dictionary<string, Caller> _byToken = new(StringComparer.Ordinal);

    public TokenRegistry(IOptions<ServerOptions> options)
    {
        var o = options.Value;
        AdminAccount = Environment.UserName is { Length: > 0 } user ? user : "admin";
        NoAuth = o.NoAuth;
        AdminToken = o.AdminToken is { Length: > 0 } given ? UseAdminToken(o.AdminTokenPath, given.Trim()) : LoadOrCreateAdminToken(o.AdminTokenPath);
        _byToken[AdminToken] = new Caller(AdminAccount, IsAdmin: true);
        var tokensFile = Path.Combine(o.DataDirectory, "tokens");
        if (File.Exists(tokensFile))
        {
            foreach (var (account, token) in ParseTokensFile(File.ReadAllLines(tokensFile)))
            {
                _byToken[token] = new Caller(account, IsAdmin: false);
            }
        }
    }

    public bool NoAuth { get; }

    public string AdminAccount { get; }

    public string AdminToken { get; }

    public Caller? Find(string token)
    {
        // Compare every candidate in constant time so the answer's timing says nothing about the token.
        Caller? found = null;
        var presented = Encoding.UTF8.GetBytes(token);
        foreach (var (known, caller) in _byToken)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Encoding.UTF8.GetBytes(known)))
            {
                found = caller;
            }
        }

        return found;
    }

    public static IEnumerable<(string Account, string Token)> ParseTokensFile(IEnumerable<string> lines)
    {
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[1].Length >= 16)
            {
                yield return (parts[0], parts[1]);
            }
        }
    }

    private static string LoadOrCreateAdminToken(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (existing.Length >= 16)
            {
                return existing;
            }
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        WriteToken(path, token);
        return token;
    }

    /// <summary>
    /// A token given by the operator (servers of one cluster share it): it is written to the token file too, so
    /// that the CLI on this machine finds it as it finds a generated one.
    /// </summary>
    private static string UseAdminToken(string path, string token)
    {
        if (!File.Exists(path) || File.ReadAllText(path).Trim() != token)
        {
            WriteToken(path, token);
        }

        return token;
    }

    private static void WriteToken(string path, string token)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(Encoding.UTF8.GetBytes(token + "\n"));
        }

        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }
}
