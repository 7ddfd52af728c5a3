using System.Net.Sockets;
using Conductor.Core.Identity;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Hosting;

/// <summary>
/// The server's Unix domain socket in its data directory (<c>conductor.sock</c>), on which local users need no token:
/// the kernel tells who connects. As root it is open to every local user (0666; the data directory lets them pass,
/// never list); an unprivileged server opens it to its own user only (0600). A socket file left by a server that
/// died is replaced; one that a running server still answers on is left alone, and this server listens on TCP only.
/// </summary>
public sealed class LocalSocket
{
    /// <summary>The longest path a Unix socket address holds (sun_path, less its terminating zero).</summary>
    private const int MaxPathBytes = 107;

    public LocalSocket(IOptions<ServerOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Path = System.IO.Path.GetFullPath(options.Value.SocketPath);
        Problem = Claim(Path);
    }

    public string Path { get; }

    /// <summary>Why the server does not listen on the socket, or null when it does.</summary>
    public string? Problem { get; }

    public bool Enabled => Problem is null;

    /// <summary>Opens the bound socket to the users who may connect: every local user as root, the server's user otherwise.</summary>
    public void Permit()
    {
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode everyone = owner | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if (Enabled && File.Exists(Path))
        {
            File.SetUnixFileMode(Path, UnixUser.ProcessIsRoot ? everyone : owner);
        }
    }

    private static string? Claim(string path)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(path) > MaxPathBytes)
        {
            return $"the socket path {path} is longer than a Unix socket address may be ({MaxPathBytes} bytes); use a shorter --data-dir";
        }

        if (!File.Exists(path))
        {
            return null;
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                return $"another server already answers on {path}";
            }
            catch (SocketException)
            {
                // Nobody listens: a socket left by a server that did not stop cleanly.
            }
        }

        try
        {
            File.Delete(path);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot replace {path}: {e.Message}";
        }
    }
}
