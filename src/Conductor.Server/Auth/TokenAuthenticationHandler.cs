using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Auth;

/// <summary>Bearer-token authentication against the <see cref="TokenRegistry"/>.</summary>
public sealed class TokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TokenRegistry tokens) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ConductorToken";
    private const string RefusalKey = "conductor:refusal";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (tokens.NoAuth)
        {
            return Task.FromResult(Success(new Caller(tokens.AdminAccount, IsAdmin: true)));
        }

        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("The Authorization header must be 'Bearer <token>'."));
        }

        var (caller, refusal) = tokens.Authenticate(header[prefix.Length..].Trim());
        if (caller is null)
        {
            Context.Items[RefusalKey] = refusal;
            return Task.FromResult(AuthenticateResult.Fail(refusal ?? "The token is not valid."));
        }

        return Task.FromResult(Success(caller));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Unauthorized",
            detail: Context.Items[RefusalKey] as string ?? "A valid token is required: send 'Authorization: Bearer <token>'. The admin token is in the server's data directory (admin.token).")
            .ExecuteAsync(Context);
    }

    private static AuthenticateResult Success(Caller caller) =>
        AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName));
}
