using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MGit.Bench;

/// <summary>
/// <c>remote</c>: push and pull a model family (a base and a chain of fine-tuned versions) over
/// loopback, to a file:// remote and to an S3 server (s3rver), and report throughput and the
/// bytes that crossed against the family's logical size.
/// </summary>
internal static class RemoteCommand
{
    private static readonly Dictionary<string, string> S3Credentials = new()
    {
        ["AWS_ACCESS_KEY_ID"] = "S3RVER",
        ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
        ["AWS_REGION"] = "us-east-1",
    };

    private sealed record Transfer(string Remote, double PushSeconds, long ObjectsSent, long BytesSent, double PullSeconds, long ObjectsReceived, long BytesReceived, long SecondPushObjects);

    public static int Run(Arguments options, string[] rawArgs)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        long sizeMb = options.Long("size-mb", 1024, 1, 1_000_000);
        int versions = (int)options.Long("versions", 4, 1, 100);
        double fraction = options.Double("change-fraction", 0.3, 0, 1);
        string s3rver = Path.GetFullPath(options.String("s3rver") ?? ".ci/node/node_modules/s3rver/bin/s3rver.js");
        string? results = options.String("results");
        options.RejectUnused();

        Directory.CreateDirectory(work);
        var models = GenerateFamily(work, sizeMb, versions, fraction);
        long logical = models.Sum(m => new FileInfo(m).Length);

        string source = Path.Combine(work, "source");
        Reset(source);
        Mgit(mgit, work, null, "init", source);
        Mgit(mgit, source, null, "add", models[0], "--name", "family", "-q");
        foreach (string model in models.Skip(1))
        {
            Mgit(mgit, source, null, "add", model, "--version-of", "family", "-q");
        }

        long stored = Directory.EnumerateFiles(Path.Combine(source, ".mgit", "objects"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        var rows = new List<Transfer>();
        string fileRemote = Path.Combine(work, "remote-file");
        Reset(fileRemote);
        rows.Add(Measure(mgit, work, source, "file", new Uri(fileRemote).AbsoluteUri, null, null));

        if (File.Exists(s3rver))
        {
            string data = Path.Combine(work, "s3rver-data");
            Reset(data);
            using var server = StartS3rver(s3rver, data, out string endpoint);
            try
            {
                rows.Add(Measure(mgit, work, source, "s3 (s3rver)", "s3://mgit-bench/family", endpoint, S3Credentials));
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                server.WaitForExit();
            }
        }
        else
        {
            Console.Error.WriteLine($"no s3rver at {s3rver} (npm install --prefix .ci/node s3rver@3.7.1): S3 row skipped");
        }

        string report = Render(string.Join(' ', rawArgs), models.Count, logical, stored, rows);
        Console.Write(report);
        if (results is not null)
        {
            File.WriteAllText(results, report);
        }

        return 0;
    }

    private static List<string> GenerateFamily(string work, long sizeMb, int versions, double fraction)
    {
        var models = new List<string>();
        string first = Path.Combine(work, $"remote-base-{sizeMb}mb.safetensors");
        if (!File.Exists(first))
        {
            ModelGenerator.Generate(first, ModelPlan.ForSize(sizeMb * 1_000_000, Dtype.F32), Dtype.F32, GenerateCommand.DefaultSeed);
        }

        models.Add(first);
        for (int v = 2; v <= versions; v++)
        {
            string next = Path.Combine(work, $"remote-v{v}-{sizeMb}mb-{fraction.ToString(CultureInfo.InvariantCulture)}.safetensors");
            if (!File.Exists(next))
            {
                ModelGenerator.Derive(models[^1], next, fraction, GenerateCommand.DefaultSeed + (ulong)v);
            }

            models.Add(next);
        }

        return models;
    }

    private static Transfer Measure(string mgit, string work, string source, string label, string url, string? endpoint, IReadOnlyDictionary<string, string>? environment)
    {
        string[] endpointArgs = endpoint is null ? [] : ["--endpoint", endpoint];
        RunQuietly(mgit, source, environment, "remote", "rm", "bench");
        Mgit(mgit, source, environment, ["remote", "add", "bench", url, .. endpointArgs]);
        var clock = Stopwatch.StartNew();
        var (objectsSent, bytesSent) = Counts(Mgit(mgit, source, environment, "push", "bench", "--json", "-q"), "objects_sent", "bytes_sent");
        double pushSeconds = clock.Elapsed.TotalSeconds;
        long again = Counts(Mgit(mgit, source, environment, "push", "bench", "--json", "-q"), "objects_sent", "bytes_sent").Objects;

        string target = Path.Combine(work, "pulled");
        Reset(target);
        Mgit(mgit, work, null, "init", target);
        Mgit(mgit, target, environment, ["remote", "add", "origin", url, .. endpointArgs]);
        clock.Restart();
        var (objectsReceived, bytesReceived) = Counts(Mgit(mgit, target, environment, "pull", "--json", "-q"), "objects_received", "bytes_received");
        double pullSeconds = clock.Elapsed.TotalSeconds;
        Reset(target);
        return new Transfer(label, pushSeconds, objectsSent, bytesSent, pullSeconds, objectsReceived, bytesReceived, again);
    }

    private static (long Objects, long Bytes) Counts(string json, string objects, string bytes)
    {
        using var document = JsonDocument.Parse(json);
        return (document.RootElement.GetProperty(objects).GetInt64(), document.RootElement.GetProperty(bytes).GetInt64());
    }

    private static string Mgit(string mgit, string directory, IReadOnlyDictionary<string, string>? environment, params string[] arguments) =>
        ChildProcess.Run(Invocation.Mgit(mgit, ["-C", directory, .. arguments], environment));

    private static void RunQuietly(string mgit, string directory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        try
        {
            Mgit(mgit, directory, environment, arguments);
        }
        catch (BenchException)
        {
            // Nothing to remove on a first run.
        }
    }

    private static Process StartS3rver(string script, string data, out string endpoint)
    {
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { script, "-d", data, "-a", "127.0.0.1", "-p", "0", "--silent", "--configure-bucket", "mgit-bench" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new BenchException("could not start node");
        const string Marker = "listening on ";
        string? line;
        do
        {
            line = process.StandardOutput.ReadLine();
        }
        while (line is not null && !line.Contains(Marker, StringComparison.Ordinal));

        int at = line?.IndexOf(Marker, StringComparison.Ordinal) ?? -1;
        if (at < 0)
        {
            process.Kill(entireProcessTree: true);
            throw new BenchException($"s3rver did not start: {line} {process.StandardError.ReadToEnd()}");
        }

        endpoint = "http://" + line![(at + Marker.Length)..].Trim();
        return process;
    }

    private static void Reset(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Render(string commandLine, int versions, long logical, long stored, List<Transfer> rows)
    {
        var md = new StringBuilder();
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Line($"# MGit remote benchmark");
        Line($"");
        Line($"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores");
        Line($"- **Command:** `MGit.Bench {commandLine}`");
        Line($"- **Family:** {versions} versions, {Report.Mb(logical)} MB logical, {Report.Mb(stored)} MB stored ({(double)logical / stored:0.00}x)");
        Line($"- MB = 10^6 bytes; MB/s counts the bytes that crossed (object files), per wall second of the whole command (process start included).");
        Line($"");
        Line($"| remote | push s | push MB/s | objects sent | MB sent | sent / logical | second push | pull s | pull MB/s | objects received | MB received |");
        Line($"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            Line($"| {r.Remote} | {r.PushSeconds:0.00} | {r.BytesSent / 1e6 / r.PushSeconds:0} | {r.ObjectsSent} | {Report.Mb(r.BytesSent)} | {(double)r.BytesSent / logical:0.000} | {r.SecondPushObjects} objects | {r.PullSeconds:0.00} | {r.BytesReceived / 1e6 / r.PullSeconds:0} | {r.ObjectsReceived} | {Report.Mb(r.BytesReceived)} |");
        }

        return md.ToString();
    }
}
