using System.Security.Claims;
using Conductor.Core.Jobs;

namespace Conductor.Server.Auth;

/// <summary>
/// Who is calling: a user (named by a token, or proven by the local socket's peer credentials) and whether it is
/// the admin. Ownership follows the user; the accounts are only the charge labels the user may put on a job.
/// </summary>
public sealed record Caller(string User, bool IsAdmin)
{
    public const string UserClaim = "conductor:user";
    public const string AccountClaim = "conductor:account";
    public const string AdminRole = "admin";

    /// <summary>The accounts the user may charge besides their own name.</summary>
    public IReadOnlyList<string> Accounts { get; init; } = [];

    /// <summary>The admin sees every job; a user sees the jobs they own.</summary>
    public bool CanSee(JobSpec job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return IsAdmin || string.Equals(job.Owner, User, StringComparison.Ordinal);
    }

    public static Caller From(ClaimsPrincipal user) => new(user.FindFirstValue(UserClaim) ?? "", user.IsInRole(AdminRole))
    {
        Accounts = user.FindAll(AccountClaim).Select(c => c.Value).ToList(),
    };

    public ClaimsPrincipal ToPrincipal(string scheme)
    {
        var claims = new List<Claim> { new(UserClaim, User), new(ClaimTypes.Name, User) };
        claims.AddRange(Accounts.Select(a => new Claim(AccountClaim, a)));
        if (IsAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, AdminRole));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }
}

public static class CallerHttpContextExtensions
{
    public static Caller GetCaller(this HttpContext context) => Caller.From(context.User);
}
