using System.Runtime.CompilerServices;
using MGit.Remotes.S3;

namespace MGit.Tests.TestSupport;

/// <summary>
/// The tests use s3:// remotes through the library as well as through the CLI (which registers
/// S3 itself), so the backend is registered before any test runs, whatever the order.
/// </summary>
internal static class RemoteBackendSetup
{
    [ModuleInitializer]
    internal static void RegisterS3() => S3Remote.Register();
}
