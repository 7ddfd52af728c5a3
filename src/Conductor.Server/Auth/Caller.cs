using System.Security.Claims;

namespace Conductor.Server.Auth;

/// <summary>Who is calling: the account a token maps to, and whether it is the admin token.</summary>
public sealed record Caller(string Account, bool IsAdmin)
{
    public const string AccountClaim = "conductor:account";
    public const string AdminRole = "admin";

    public bool CanSee(string account) => IsAdmin || string.Equals(account, Account, StringComparison.Ordinal);

    public static Caller From(ClaimsPrincipal user) => new(
        user.FindFirstValue(AccountClaim) ?? "",
        user.IsInRole(AdminRole));
}

public static class CallerHttpContextExtensions
{
    public static Caller GetCaller(this HttpContext context) => Caller.From(context.User);
}
