using System.Globalization;
using System.Net;

namespace Conductor.Server.Hosting;

/// <summary>A host:port the server listens on.</summary>
public sealed record ListenAddress(IPAddress Address, int Port)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    public string Url => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"http://[{Address}]:{Port}"
        : $"http://{Address}:{Port}";

    public static bool TryParse(string? text, out ListenAddress address, out string error)
    {
        address = null!;
        error = "";
        var s = text?.Trim() ?? "";
        var colon = s.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(s[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            error = $"'{s}' is not host:port, e.g. 127.0.0.1:8642";
            return false;
        }

        var host = s[..colon].Trim('[', ']');
        IPAddress? ip = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : null;
        if (ip is null && !IPAddress.TryParse(host, out ip))
        {
            error = $"'{host}' is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0";
            return false;
        }

        address = new ListenAddress(ip, port);
        return true;
    }
}
