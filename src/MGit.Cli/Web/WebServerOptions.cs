using System.Net;
using MGit.Errors;
using MGit.Workspace;

namespace MGit.Cli.Web;

/// <summary>What <c>mgit serve</c> serves and where.</summary>
/// <param name="RepositoryPath">The repository folder or a folder inside it; the server opens the repository anew for every request, so models added while it runs show up.</param>
/// <param name="Repository">Options every request opens the repository with.</param>
/// <param name="Address">The address to bind; loopback unless a token is given.</param>
/// <param name="Port">The port; 0 takes any free one (the bound address is printed).</param>
/// <param name="Token">When set, every request must carry it (bearer token or cookie).</param>
public sealed record WebServerOptions(string RepositoryPath, RepositoryOptions Repository, IPAddress Address, int Port, string? Token)
{
    public const int DefaultPort = 8765;

    /// <summary>
    /// "localhost", an IPv4 or an IPv6 address. Any other address than loopback exposes the
    /// repository to the network, so it needs a token: the check is here, before anything binds.
    /// </summary>
    public static IPAddress ParseHost(string host, string? token)
    {
        var address = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(host.Trim('[', ']'), out var parsed) ? parsed
            : throw new MGitException(ErrorKind.InvalidInput, $"--host {host}: not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or an address of this machine)");
        if (!IPAddress.IsLoopback(address) && string.IsNullOrEmpty(token))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"--host {host} serves the repository to the network: give --token SECRET (every request must then carry it)");
        }

        return address;
    }
}
