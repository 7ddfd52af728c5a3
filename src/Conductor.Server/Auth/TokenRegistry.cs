using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Conductor.Core.Identity;
using Conductor.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Auth;

/// <summary>
/// The tokens the server accepts: the admin token (written at first start to a file only the owner can read) and
/// user tokens from the optional <c>tokens</c> file (one <c>USER TOKEN</c> pair a line, the user a Unix user name),
/// with the accounts each user may charge from the optional <c>accounts</c> file (<c>USER ACCOUNT...</c>).
/// </summary>
/// <remarks>
/// When the server runs as root each job runs as its owner's Unix user, so a token is accepted only while its user
/// exists with a uid of at least <see cref="ServerOptions.MinUid"/>; the answer says why not otherwise. An
/// unprivileged server runs every job as itself, so a tokens file naming other users is refused at start unless
/// the operator says they deliberately share its Unix user (<see cref="ServerOptions.SharedUnixUser"/>).
/// </remarks>
public sealed class TokenRegistry
{
    private readonly Dictionary<string, string> _userByToken = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<string>> _accounts = new(StringComparer.Ordinal);
    private readonly int _minUid;
    private readonly bool _sharedUnixUser;

    public TokenRegistry(IOptions<ServerOptions> options)
    {
        var o = options.Value;
        _minUid = o.MinUid;
        _sharedUnixUser = o.SharedUnixUser;
        AdminAccount = UnixUser.Current.Name is { Length: > 0 } own ? own : "admin";
        NoAuth = o.NoAuth;
        AdminToken = o.AdminToken is { Length: > 0 } given ? UseAdminToken(o.AdminTokenPath, given.Trim()) : LoadOrCreateAdminToken(o.AdminTokenPath);
        foreach (var (user, token) in ReadTokensFile(o.DataDirectory))
        {
            _userByToken[token] = user;
        }

        var accountsFile = Path.Combine(o.DataDirectory, "accounts");
        if (File.Exists(accountsFile))
        {
            foreach (var (user, accounts) in ParseAccountsFile(File.ReadAllLines(accountsFile)))
            {
                _accounts[user] = accounts;
            }
        }
    }

    public bool NoAuth { get; }

    /// <summary>The admin's user: the Unix user the server runs as.</summary>
    public string AdminAccount { get; }

    public string AdminToken { get; }

    /// <summary>The caller a token names, or the reason it is refused (unknown token, or a user who may not run jobs here).</summary>
    public (Caller? Caller, string? Refusal) Authenticate(string token)
    {
        // Compare every candidate in constant time so the answer's timing says nothing about the token.
        var presented = Encoding.UTF8.GetBytes(token);
        var admin = CryptographicOperations.FixedTimeEquals(presented, Encoding.UTF8.GetBytes(AdminToken));
        string? found = null;
        foreach (var (known, user) in _userByToken)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Encoding.UTF8.GetBytes(known)))
            {
                found = user;
            }
        }

        if (admin)
        {
            return (new Caller(AdminAccount, IsAdmin: true), null);
        }

        if (found is null)
        {
            return (null, "The token is not valid.");
        }

        return WhyNotAllowed(found) is { } why ? (null, why) : (ForUser(found), null);
    }

    /// <summary>
    /// The caller the kernel names on the local socket (its peer's uid), or why it is refused: a uid without a passwd
    /// entry, a system uid below <see cref="ServerOptions.MinUid"/> (root excepted, who is the admin), or, on an
    /// unprivileged server, any other user than the server's own, whose jobs would run as the server's user.
    /// </summary>
    public (Caller? Caller, string? Refusal) AuthenticatePeer(int uid)
    {
        var own = UnixUser.Current;
        if (uid == 0 || uid == own.Uid)
        {
            return (new Caller(uid == own.Uid ? AdminAccount : "root", IsAdmin: true), null);
        }

        if (UnixUser.FindById(uid) is not { } user)
        {
            return (null, string.Create(CultureInfo.InvariantCulture, $"uid {uid} has no entry in the passwd database, so no job can run as it."));
        }

        if (!UnixUser.ProcessIsRoot && !_sharedUnixUser)
        {
            return (null, $"This server runs as '{own.Name}' and would run your jobs as that user; other local users may use it only when it runs as root, or with --shared-unix-user.");
        }

        return UnixUser.ProcessIsRoot && user.Uid < _minUid
            ? (null, string.Create(CultureInfo.InvariantCulture, $"User '{user.Name}' has uid {uid}, below the server's minimum uid {_minUid} (--min-uid): system users run no jobs here."))
            : (ForUser(user.Name), null);
    }

    /// <summary>The caller for a user proven by other means (the local socket): root is the admin.</summary>
    public Caller ForUser(string user) =>
        user == AdminAccount || user == "root"
            ? new Caller(user, IsAdmin: true)
            : new Caller(user, IsAdmin: false) { Accounts = _accounts.GetValueOrDefault(user) ?? [] };

    /// <summary>Why this user may not run jobs on a root server (no such user, or a system uid); null when they may.</summary>
    public string? WhyNotAllowed(string user)
    {
        if (!UnixUser.ProcessIsRoot)
        {
            return null;
        }

        var entry = UnixUser.FindByName(user);
        if (entry is null)
        {
            return $"The token names user '{user}', who does not exist on this server; jobs run as their owner's Unix user.";
        }

        return entry.Uid < _minUid
            ? string.Create(CultureInfo.InvariantCulture, $"The token names user '{user}' with uid {entry.Uid}, below the server's minimum uid {_minUid} (--min-uid).")
            : null;
    }

    /// <summary>
    /// Why this server cannot start with its tokens file, or null: an unprivileged server runs every job as its own
    /// user, so tokens of other users would only pretend to separate them.
    /// </summary>
    public static string? StartProblem(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (UnixUser.ProcessIsRoot || options.SharedUnixUser || options.NoAuth)
        {
            return null;
        }

        var own = UnixUser.Current.Name;
        var others = ReadTokensFile(options.DataDirectory).Select(t => t.User).Where(u => u != own).Distinct().ToList();
        return others.Count == 0
            ? null
            : $"the tokens file names other users ({string.Join(", ", others.Take(5))}) but this server runs as '{own}', so their jobs would all run as '{own}' and could reach each other; " +
              "run the server as root to run each job as its owner, or pass --shared-unix-user if they deliberately share this Unix user";
    }

    public static IEnumerable<(string User, string Token)> ParseTokensFile(IEnumerable<string> lines)
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

    /// <summary>Lines of <c>USER ACCOUNT[,ACCOUNT...]</c> (commas or spaces); <c>#</c> starts a comment.</summary>
    public static IEnumerable<(string User, IReadOnlyList<string> Accounts)> ParseAccountsFile(IEnumerable<string> lines)
    {
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var parts = line.Split([' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2)
            {
                yield return (parts[0], parts[1..]);
            }
        }
    }

    private static List<(string User, string Token)> ReadTokensFile(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "tokens");
        return File.Exists(path) ? ParseTokensFile(File.ReadAllLines(path)).ToList() : [];
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
