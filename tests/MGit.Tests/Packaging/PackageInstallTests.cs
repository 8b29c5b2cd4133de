using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Packaging;

/// <summary>
/// The packaging tests run alone, after the parallel ones: they build the solution with
/// <c>dotnet pack</c> and a console app with <c>dotnet build</c>, which would otherwise take the
/// CPU (two cores in CI) from the other tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingRunsAlone
{
    public const string Name = "packaging";
}

/// <summary>
/// What a user of the packages gets, tested against a local package folder: <c>dotnet pack
/// MGit.slnx</c> (built in a folder of its own, so the tree the other tests run from is not
/// touched), the tool installed with <c>dotnet tool install</c>, and the library added to a fresh
/// <c>dotnet new console</c> app. Restores go to a private package folder, so the machine's
/// NuGet cache never holds these packages (a stale copy there would shadow the next pack of the
/// same version).
/// </summary>
[Collection(PackagingRunsAlone.Name)]
public sealed class PackageInstallTests(PackageFeed feed) : IClassFixture<PackageFeed>
{
    private static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    /// <summary>A real, small ONNX model (ResNet-50's graph with small weights, from ONNX's own test data).</summary>
    private static string Model => Fixture("onnx", "backend", "light", "light_resnet50.onnx");

    [Fact]
    public void Pack_gives_the_library_the_s3_backend_and_the_tool_each_with_symbols_and_one_version()
    {
        string v = feed.Version;
        string[] toolRids = ["any", "linux-arm64", "linux-x64", "osx-arm64", "win-x64"];
        Assert.Equal(
            new[] { "MGit", "MGit.Remotes.S3", "MGit.Tool" }.Concat(toolRids.Select(rid => $"MGit.Tool.{rid}"))
                .SelectMany(id => new[] { $"{id}.{v}.nupkg", $"{id}.{v}.snupkg" }).Order(StringComparer.Ordinal),
            Directory.EnumerateFiles(feed.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var library = Package.Read(feed.PackagePath("MGit"));
        library.AssertMetadata("MGit", v);
        Assert.Contains("lib/net10.0/MGit.Core.dll", library.Files);
        Assert.Contains("lib/net10.0/MGit.Core.xml", library.Files);
        Assert.DoesNotContain(library.Files, f => f.Contains("Quickstart", StringComparison.OrdinalIgnoreCase) || f.Contains("penguin", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(["Blake3", "Google.Protobuf", "Microsoft.Data.Sqlite", "System.IO.Hashing", "YamlDotNet", "ZstdSharp.Port"], library.Dependencies.Keys.Order(StringComparer.Ordinal));

        var s3 = Package.Read(feed.PackagePath("MGit.Remotes.S3"));
        s3.AssertMetadata("MGit.Remotes.S3", v);
        Assert.Contains("lib/net10.0/MGit.Remotes.S3.dll", s3.Files);
        Assert.Equal(v, s3.Dependencies["MGit"]);
        Assert.Contains("AWSSDK.S3", s3.Dependencies.Keys);

        // The tool: a pointer package naming one package per platform, each carrying the whole
        // tool, precompiled (ReadyToRun) except the portable fallback.
        var tool = Package.Read(feed.PackagePath("MGit.Tool"));
        tool.AssertMetadata("MGit.Tool", v);
        Assert.Equal("DotnetTool", tool.Nuspec.Descendants(tool.Ns + "packageType").Single().Attribute("name")?.Value);
        string settings = tool.Text("tools/any/any/DotnetToolSettings.xml");
        Assert.Contains("<Command Name=\"mgit\"", settings, StringComparison.Ordinal);
        Assert.All(toolRids, rid => Assert.Contains($"RuntimeIdentifier=\"{rid}\" Id=\"MGit.Tool.{rid}\"", settings, StringComparison.Ordinal));
        foreach (string rid in toolRids)
        {
            var platform = Package.Read(feed.PackagePath($"MGit.Tool.{rid}"));
            Assert.Equal("DotnetToolRidPackage", platform.Nuspec.Descendants(platform.Ns + "packageType").Single().Attribute("name")?.Value);
            foreach (string assembly in new[] { "mgit.dll", "MGit.Core.dll", "MGit.Remotes.S3.dll", "MGit.Quickstart.dll", "AWSSDK.S3.dll" })
            {
                Assert.Contains($"tools/net10.0/{rid}/{assembly}", platform.Files);
            }

            Assert.Contains("<Command Name=\"mgit\" EntryPoint=\"mgit", platform.Text($"tools/net10.0/{rid}/DotnetToolSettings.xml"), StringComparison.Ordinal);
            Assert.Equal(rid != "any", platform.IsReadyToRun($"tools/net10.0/{rid}/MGit.Core.dll"));
            Assert.Equal(rid != "any", platform.IsReadyToRun($"tools/net10.0/{rid}/mgit.dll"));
        }

        Assert.Contains("MGit.Core.pdb", Package.Read(feed.PackagePath("MGit", "snupkg")).Files.Select(Path.GetFileName));
        Assert.Contains("MGit.Remotes.S3.pdb", Package.Read(feed.PackagePath("MGit.Remotes.S3", "snupkg")).Files.Select(Path.GetFileName));
        Assert.Contains("mgit.pdb", Package.Read(feed.PackagePath("MGit.Tool.linux-x64", "snupkg")).Files.Select(Path.GetFileName));
    }

    [Fact]
    public void The_tool_installs_from_the_package_folder_and_round_trips_a_real_model()
    {
        string work = feed.NewFolder("tool");
        // Only the local folder: the tool package must carry everything it needs.
        File.WriteAllText(Path.Combine(work, "nuget.config"), """
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
              </packageSources>
            </configuration>
            """);
        string tools = Path.Combine(work, "tools");
        feed.Dotnet(work, "tool", "install", "--tool-path", tools, "--add-source", feed.Folder, "MGit.Tool", "--version", feed.Version);
        string mgit = Path.Combine(tools, OperatingSystem.IsWindows() ? "mgit.exe" : "mgit");

        Assert.Equal(feed.Version, feed.Run(mgit, work, "--version").Trim().Split('+')[0]);

        // On a platform with a package of its own, the precompiled one is installed, not the portable fallback.
        string core = Directory.EnumerateFiles(tools, "MGit.Core.dll", SearchOption.AllDirectories).Single();
        bool ownPackage = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier is "linux-x64" or "linux-arm64" or "osx-arm64" or "win-x64";
        Assert.Equal(ownPackage, Package.IsReadyToRun(File.ReadAllBytes(core)));

        string repo = Directory.CreateDirectory(Path.Combine(work, "repo")).FullName;
        feed.Run(mgit, repo, "init");
        feed.Run(mgit, repo, "add", Model, "--name", "resnet", "-q");
        using (var listed = JsonDocument.Parse(feed.Run(mgit, repo, "ls", "--json")))
        {
            Assert.Equal(["resnet@1"], listed.RootElement.EnumerateArray().Select(v => v.GetProperty("ref").GetString()));
        }

        string output = Path.Combine(work, "out", "model.onnx");
        feed.Run(mgit, repo, "checkout", "resnet@1", "-o", output);
        Assert.True(SameBytes(Model, output), $"{output} differs from {Model}");

        // The quickstart (trainer and data) travels in the tool, not in the library.
        Assert.Contains("every file is byte-identical", feed.Run(mgit, work, "quickstart", Path.Combine(work, "quickstart")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_fresh_console_app_installs_the_library_and_round_trips_a_real_model()
    {
        string work = feed.NewFolder("app");
        File.WriteAllText(Path.Combine(work, "nuget.config"), feed.ConsumerNugetConfig());
        string app = Path.Combine(work, "app");
        feed.Dotnet(work, "new", "console", "--output", app, "--name", "ConsumerApp", "--no-restore");
        feed.Dotnet(app, "add", "package", "MGit", "--version", feed.Version);
        feed.Dotnet(app, "add", "package", "MGit.Remotes.S3", "--version", feed.Version);
        File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
        File.WriteAllText(Path.Combine(app, "ReadmeExample.cs"), ReadmeExample(Path.Combine(feed.RepositoryRoot, "src", "MGit", "README.md"), "ReadmeExample"));
        // The S3 package's example is compiled only: it would push to AWS.
        File.WriteAllText(Path.Combine(app, "S3ReadmeExample.cs"), ReadmeExample(Path.Combine(feed.RepositoryRoot, "src", "MGit.Remotes.S3", "README.md"), "S3ReadmeExample"));
        // Warnings as errors: the packages' API, as the README uses it, is clean under nullable.
        feed.Dotnet(app, "build", "-c", "Release", "--disable-build-servers", "-p:TreatWarningsAsErrors=true");

        string data = Directory.CreateDirectory(Path.Combine(work, "data")).FullName;
        File.Copy(Fixture("repo-v2", "originals", "base.safetensors"), Path.Combine(data, "base.safetensors"));
        File.Copy(Fixture("repo-v2", "originals", "tuned.safetensors"), Path.Combine(data, "tuned.safetensors"));
        string dll = Path.Combine(app, "bin", "Release", "net10.0", "ConsumerApp.dll");
        string[] lines = feed.Run(feed.DotnetHost, data, dll, Model).ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal($"library {feed.Version}", lines[0]);
        Assert.Equal("before S3Remote.Register(): 's3://bucket-a/models': s3:// remotes come with the MGit.Remotes.S3 package; add it and call MGit.Remotes.S3.S3Remote.Register() at start-up", lines[1]);
        Assert.Equal("after S3Remote.Register(): s3://bucket-a/models is valid", lines[2]);
        Assert.Equal($"listed resnet@1 {new FileInfo(Model).Length} bytes", lines[3]);
        Assert.Equal("checkout identical: True", lines[4]);
        // The README's example, run as written in the folder holding its two models.
        Assert.Matches(@"^tuned@1: \d+ new bytes stored$", lines[5]);
        Assert.Equal(["base@1 16792 bytes", "tuned@1 16792 bytes"], lines[6..8]);
        Assert.Equal("readme checkout identical: True", lines[8]);
        Assert.Equal(9, lines.Length);
    }

    private const string ConsumerProgram = """
        using System.Reflection;
        using MGit;
        using MGit.Errors;
        using MGit.Ingest;
        using MGit.Remotes;
        using MGit.Remotes.S3;

        string model = Path.GetFullPath(args[0]);
        Console.WriteLine($"library {typeof(Repository).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0]}");

        const string S3Url = "s3://bucket-a/models";
        try
        {
            RemoteBackends.Validate(S3Url, null);
            Console.WriteLine("before S3Remote.Register(): accepted");
        }
        catch (MGitException e)
        {
            Console.WriteLine($"before S3Remote.Register(): {e.Message}");
        }

        S3Remote.Register();
        RemoteBackends.Validate(S3Url, null);
        Console.WriteLine($"after S3Remote.Register(): {S3Url} is valid");

        string folder = Path.Combine(Environment.CurrentDirectory, "program");
        using (var repository = Repository.Init(Path.Combine(folder, "repo")))
        {
            var added = repository.Add(model, new AddOptions { Name = "resnet" });
            foreach (var version in repository.Graph().Versions)
            {
                Console.WriteLine($"listed {version.Ref} {version.LogicalBytes} bytes");
            }

            string output = repository.Checkout(added.Version.Ref, Path.Combine(folder, "out", "model.onnx"));
            Console.WriteLine($"checkout identical: {File.ReadAllBytes(output).AsSpan().SequenceEqual(File.ReadAllBytes(model))}");
        }

        ReadmeExample.Run();
        Console.WriteLine($"readme checkout identical: {File.ReadAllBytes("out/base.safetensors").AsSpan().SequenceEqual(File.ReadAllBytes("base.safetensors"))}");
        """;

    /// <summary>
    /// The usage example of a package's README (its first C# block) as a method of a class of its
    /// own: its using directives on top, its statements as the body. The READMEs show what compiles.
    /// </summary>
    private static string ReadmeExample(string readmePath, string className)
    {
        string readme = File.ReadAllText(readmePath).ReplaceLineEndings("\n");
        var block = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, $"{readmePath} has no ```csharp block");
        var lines = block.Groups[1].Value.Split('\n');
        bool IsDirective(string line) => Regex.IsMatch(line, @"^using [A-Za-z0-9_.]+;$");
        var source = new StringBuilder();
        source.AppendJoin('\n', lines.Where(IsDirective)).Append('\n');
        source.Append($"internal static class {className}\n{{\n    public static void Run()\n    {{\n");
        source.AppendJoin('\n', lines.Where(l => !IsDirective(l))).Append("\n    }\n}\n");
        return source.ToString();
    }

    private static bool SameBytes(string a, string b)
    {
        using var x = File.OpenRead(a);
        using var y = File.OpenRead(b);
        if (x.Length != y.Length)
        {
            return false;
        }

        var bufferX = new byte[1 << 16];
        var bufferY = new byte[1 << 16];
        int read;
        while ((read = x.Read(bufferX)) > 0)
        {
            y.ReadExactly(bufferY, 0, read);
            if (!bufferX.AsSpan(0, read).SequenceEqual(bufferY.AsSpan(0, read)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A .nupkg or .snupkg opened: its file list, nuspec and dependencies.</summary>
    private sealed record Package(IReadOnlyList<string> Files, XDocument Nuspec, XNamespace Ns, IReadOnlyDictionary<string, string> Dependencies, string Location)
    {
        public static Package Read(string path)
        {
            using var zip = ZipFile.OpenRead(path);
            var files = zip.Entries.Select(e => e.FullName).ToList();
            var entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/', StringComparison.Ordinal));
            XDocument nuspec;
            using (var stream = entry.Open())
            {
                nuspec = XDocument.Load(stream);
            }

            var ns = nuspec.Root!.Name.Namespace;
            var dependencies = nuspec.Descendants(ns + "dependency").ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
            return new Package(files, nuspec, ns, dependencies, path);
        }

        public string Text(string file)
        {
            using var zip = ZipFile.OpenRead(Location);
            using var reader = new StreamReader(zip.GetEntry(file)?.Open() ?? throw new InvalidOperationException($"{Location} has no {file}"));
            return reader.ReadToEnd();
        }

        /// <summary>Whether an assembly in the package carries precompiled native code (a ReadyToRun header).</summary>
        public bool IsReadyToRun(string file)
        {
            using var zip = ZipFile.OpenRead(Location);
            using var bytes = new MemoryStream();
            using (var entry = (zip.GetEntry(file) ?? throw new InvalidOperationException($"{Location} has no {file}")).Open())
            {
                entry.CopyTo(bytes);
            }

            return IsReadyToRun(bytes.ToArray());
        }

        public static bool IsReadyToRun(byte[] assembly)
        {
            using var pe = new System.Reflection.PortableExecutable.PEReader(new MemoryStream(assembly));
            return pe.PEHeaders.CorHeader?.ManagedNativeHeaderDirectory.Size > 0;
        }

        public void AssertMetadata(string id, string version)
        {
            string? Field(string name) => Nuspec.Descendants(Ns + name).SingleOrDefault()?.Value;
            Assert.Equal(id, Field("id"));
            Assert.Equal(version, Field("version"));
            Assert.Equal("MIT", Field("license"));
            Assert.Equal("README.md", Field("readme"));
            Assert.Contains("README.md", Files);
            Assert.False(string.IsNullOrWhiteSpace(Field("description")));
            Assert.False(string.IsNullOrWhiteSpace(Field("authors")));
        }
    }
}

/// <summary>
/// The three packages, packed once for the class from this clone's sources into a fresh folder,
/// and the means to install them: a private NuGet package folder and a clean environment for the
/// nested <c>dotnet</c> commands.
/// </summary>
public sealed class PackageFeed : IDisposable
{
    private readonly TempDirectory _work = new();

    public PackageFeed()
    {
        RepositoryRoot = FindRepositoryRoot();
        Version = typeof(PackageFeed).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        Folder = Directory.CreateDirectory(_work.File("feed")).FullName;
        PrivatePackages = Directory.CreateDirectory(_work.File("nuget-packages")).FullName;
        // Its own artifacts folder (bin, obj, restore output): the tree the other tests run from stays as it is.
        Dotnet(RepositoryRoot, "pack", Path.Combine(RepositoryRoot, "MGit.slnx"), "-c", "Release", "-o", Folder,
            "--artifacts-path", _work.File("build"), "--disable-build-servers", "-nologo");
    }

    public string RepositoryRoot { get; }

    /// <summary>The version every package carries: the one Directory.Build.props gives this test assembly too.</summary>
    public string Version { get; }

    /// <summary>The local package folder <c>dotnet pack</c> wrote.</summary>
    public string Folder { get; }

    private string PrivatePackages { get; }

    /// <summary>The machine's package folder this test assembly was restored from (read-only here).</summary>
    private static string MachinePackages => typeof(PackageFeed).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NuGetPackageRoot").Value!;

    /// <summary>The dotnet that runs these tests, so nested commands use the same SDK.</summary>
    public string DotnetHost { get; } = Environment.ProcessPath is { } current && Path.GetFileNameWithoutExtension(current) == "dotnet"
        ? current
        : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public string PackagePath(string id, string extension = "nupkg") => Path.Combine(Folder, $"{id}.{Version}.{extension}");

    public string NewFolder(string name) => Directory.CreateDirectory(_work.File(name)).FullName;

    /// <summary>
    /// The local folder for MGit's packages and nuget.org for the rest (a source mapping keeps
    /// MGit* from ever coming from nuget.org). Packages this machine already holds are taken from
    /// its package folder, read-only, rather than downloaded again; not if that folder holds MGit
    /// at this version itself, which would shadow the fresh package.
    /// </summary>
    public string ConsumerNugetConfig()
    {
        string machine = MachinePackages;
        bool shadows = Directory.Exists(Path.Combine(machine, "mgit", Version)) || Directory.Exists(Path.Combine(machine, "mgit.remotes.s3", Version));
        string fallback = shadows || !Directory.Exists(machine) ? "" : $"""
              <fallbackPackageFolders>
                <clear />
                <add key="machine" value="{machine}" />
              </fallbackPackageFolders>
            """;
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{Folder}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="MGit" />
                  <package pattern="MGit.*" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            {fallback}
            </configuration>
            """;
    }

    /// <summary>Runs dotnet with these arguments; its output, or a failure that shows all it said.</summary>
    public string Dotnet(string workingDirectory, params string[] args) => Run(DotnetHost, workingDirectory, args);

    /// <summary>Runs a program in a clean environment (private NuGet folder, no settings of the test host's MSBuild); fails loudly on a non-zero exit.</summary>
    public string Run(string program, string workingDirectory, params string[] args)
    {
        var start = CliRunner.StartInfo(program, workingDirectory, args);
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["NUGET_PACKAGES"] = PrivatePackages;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE"] = "1";
        start.Environment["MGIT_FSYNC"] = "0";
        if (Path.IsPathRooted(DotnetHost))
        {
            // The tool's launcher finds the runtime here wherever dotnet is installed.
            start.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(DotnetHost);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"{Describe(program, args)} did not finish in 10 minutes\n{Tail(stdout.Result)}\n{Tail(stderr.Result)}");
        }

        if (process.ExitCode != 0)
        {
            Assert.Fail($"{Describe(program, args)} (in {workingDirectory}) failed with exit code {process.ExitCode}\n--- stdout\n{Tail(stdout.Result)}\n--- stderr\n{Tail(stderr.Result)}");
        }

        return stdout.Result;
    }

    private static string Describe(string program, string[] args) => $"{Path.GetFileName(program)} {string.Join(' ', args)}";

    private static string Tail(string text) => text.Length <= 12_000 ? text : "..." + text[^12_000..];

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MGit.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no MGit.slnx above {AppContext.BaseDirectory}: the packaging tests pack this clone's sources");
    }

    public void Dispose() => _work.Dispose();
}
