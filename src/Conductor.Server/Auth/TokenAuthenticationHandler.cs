using System.Security.Claims;
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

        var caller = tokens.Find(header[prefix.Length..].Trim());
        return Task.FromResult(caller is null ? AuthenticateResult.Fail("The token is not valid.") : Success(caller));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Unauthorized",
            detail: "A valid token is required: send 'Authorization: Bearer <token>'. The admin token is in the server's data directory (admin.token).")
            .ExecuteAsync(Context);
    }

    private AuthenticateResult Success(Caller caller)
    {
        var claims = new List<Claim> { new(Caller.AccountClaim, caller.Account), new(ClaimTypes.Name, caller.Account) };
        if (caller.IsAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, Caller.AdminRole));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }
}
