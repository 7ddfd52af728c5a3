using System.Net.Sockets;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Auth;

/// <summary>
/// Authenticates a request that arrives on the server's local Unix socket by the kernel's word: the connecting
/// process's uid (<c>SO_PEERCRED</c>) is the caller, as Slurm's munge makes the submitting uid the job's user. Root is
/// the admin; a user the server may not run jobs for is refused with 403 and the reason.
/// </summary>
public sealed class PeerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TokenRegistry tokens) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ConductorPeer";
    private const string RefusalKey = "conductor:peer-refusal";

    /// <summary>The uid of the process at the other end of this request's connection, or null when it is not the local socket.</summary>
    public static int? PeerUid(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<IConnectionSocketFeature>()?.Socket is not { AddressFamily: AddressFamily.Unix } socket)
        {
            return null;
        }

        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        const int SOL_SOCKET = 1;
        const int SO_PEERCRED = 17;
        Span<byte> credentials = stackalloc byte[12];
        try
        {
            return socket.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, credentials) == credentials.Length
                ? BitConverter.ToInt32(credentials[4..8])
                : null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    public static bool IsLocalSocket(HttpContext context) =>
        context.Features.Get<IConnectionSocketFeature>()?.Socket.AddressFamily == AddressFamily.Unix;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (PeerUid(Context) is not { } uid)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var (caller, refusal) = tokens.AuthenticatePeer(uid);
        if (caller is null)
        {
            Context.Items[RefusalKey] = refusal;
            return Task.FromResult(AuthenticateResult.Fail(refusal ?? "The connecting user may not use this server."));
        }

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await Results.Problem(
            statusCode: StatusCodes.Status403Forbidden,
            title: "Forbidden",
            detail: Context.Items[RefusalKey] as string ?? "The local socket could not tell who is connecting.")
            .ExecuteAsync(Context);
    }
}
