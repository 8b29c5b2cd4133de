using System.Globalization;
using System.Text.Json;

namespace MGit.Bench;

/// <summary>
/// What a repository must show after a fault, each through the mgit under test: <c>fsck</c> exits
/// 0, <c>ls --json</c> lists one of the states the interrupted command goes between, and every
/// listed version checks out byte-identical to the file it was added from.
/// </summary>
internal sealed class RepositoryProbe(string mgit, FaultFamily family, string scratch)
{
    private static readonly Dictionary<string, string> NoFsync = new(StringComparer.Ordinal) { ["MGIT_FSYNC"] = "0" };

    public Outcome Mgit(params string[] arguments) => ChildProcess.Attempt(Invocation.Mgit(mgit, arguments));

    /// <summary>An mgit command the harness inspects with, not one under test: without fsync, which only guards against power loss.</summary>
    public Outcome Instrument(params string[] arguments) => ChildProcess.Attempt(Invocation.Mgit(mgit, arguments, NoFsync));

    /// <summary>
    /// What <c>ls --json</c> lists, one line per version (ref, size and parents), in ref order; null
    /// when ls fails, with its message.
    /// </summary>
    public IReadOnlyList<string>? Listing(string repository, out string failure)
    {
        var ls = Mgit("-C", repository, "ls", "--json");
        failure = ls.Succeeded ? "" : $"exit {ls.ExitCode}: {ls.Message}";
        if (!ls.Succeeded)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(ls.Output);
            return document.RootElement.EnumerateArray()
                .Select(v =>
                {
                    string parents = string.Join(", ", v.GetProperty("parents").EnumerateArray()
                        .Select(p => $"{p.GetProperty("ref").GetString()} {p.GetProperty("kind").GetString()}"));
                    long bytes = v.GetProperty("logical_bytes").GetInt64();
                    return string.Create(CultureInfo.InvariantCulture, $"{v.GetProperty("ref").GetString()} ({bytes} bytes; parents: {(parents.Length > 0 ? parents : "none")})");
                })
                .Order(StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            failure = $"unreadable JSON ({e.Message})";
            return null;
        }
    }

    /// <summary>The ref at the start of a <see cref="Listing"/> line.</summary>
    public static string RefOf(string listingLine) => listingLine[..listingLine.IndexOf(' ', StringComparison.Ordinal)];

    /// <summary>Adds to <paramref name="problems"/> every way the repository is not in one of the <paramref name="allowed"/> states.</summary>
    public void Check(string repository, IReadOnlyList<IReadOnlyList<string>> allowed, List<string> problems, string label)
    {
        // Read-only commands, so fsck runs beside the others: the checks take most of the run time.
        var fsckRun = Task.Run(() => Mgit("-C", repository, "fsck"));
        var found = new List<string>();
        var listing = Listing(repository, out string failure);
        if (listing is null)
        {
            found.Add($"{label}: `mgit ls --json` failed, {failure}");
        }
        else if (!allowed.Any(state => state.SequenceEqual(listing, StringComparer.Ordinal)))
        {
            found.Add($"{label}: `mgit ls --json` {DescribeDifference(listing, allowed)}");
        }

        var refs = (listing ?? allowed[0]).Select(RefOf).Where(family.Originals.ContainsKey).ToList();
        CheckEveryVersion(repository, refs, found, label);
        var fsck = fsckRun.GetAwaiter().GetResult();
        if (fsck.ExitCode != 0)
        {
            // fsck names the damage on stdout and sums it up on stderr: report both.
            string named = fsck.Output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
            problems.Add($"{label}: `mgit fsck` exited with {fsck.ExitCode}: {fsck.Message}{(named.Length > 0 && fsck.Error.Length > 0 ? $" ({named})" : "")}");
        }

        problems.AddRange(found);
    }

    /// <summary>Checks the versions out in one command (as a user restoring a family would) and compares every byte.</summary>
    public void CheckEveryVersion(string repository, List<string> refs, List<string> problems, string label)
    {
        if (refs.Count == 0)
        {
            return;
        }

        Reset(scratch);
        // One ref checks out to the path given; a folder that exists takes the file under its own name.
        string output = scratch;
        if (refs.Count == 1)
        {
            output = Path.Combine(scratch, refs[0]);
            Directory.CreateDirectory(output);
        }

        var checkout = Instrument(["-C", repository, "checkout", .. refs, "-o", output, "-q"]);
        if (checkout.ExitCode != 0)
        {
            problems.Add($"{label}: `mgit checkout {string.Join(' ', refs)}` exited with {checkout.ExitCode}: {checkout.Message}");
            Reset(scratch);
            return;
        }

        foreach (string reference in refs)
        {
            string original = family.Originals[reference];
            string written = Path.Combine(scratch, reference, Path.GetFileName(original));
            if (!File.Exists(written))
            {
                problems.Add($"{label}: the checkout of {reference} wrote no {Path.GetFileName(original)}");
            }
            else if (!SameBytes(original, written))
            {
                problems.Add($"{label}: {reference} does not check out byte-identical to {Path.GetFileName(original)}");
            }
        }

        Reset(scratch);
    }

    public static bool SameBytes(string expected, string actual)
    {
        using var a = new FileStream(expected, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        using var b = new FileStream(actual, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        if (a.Length != b.Length)
        {
            return false;
        }

        var left = new byte[1 << 20];
        var right = new byte[1 << 20];
        int read;
        while ((read = a.ReadAtLeast(left, left.Length, throwOnEndOfStream: false)) > 0)
        {
            b.ReadExactly(right, 0, read);
            if (!left.AsSpan(0, read).SequenceEqual(right.AsSpan(0, read)))
            {
                return false;
            }
        }

        return true;
    }

    public static void Reset(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>How a listing differs from the closest allowed state: the versions missing and the ones that should not be there.</summary>
    private static string DescribeDifference(IReadOnlyList<string> listing, IReadOnlyList<IReadOnlyList<string>> allowed)
    {
        var closest = allowed.MinBy(state => state.Except(listing, StringComparer.Ordinal).Count() + listing.Except(state, StringComparer.Ordinal).Count())!;
        var missing = closest.Except(listing, StringComparer.Ordinal).ToList();
        var unexpected = listing.Except(closest, StringComparer.Ordinal).ToList();
        string states = string.Join(" or ", allowed.Select(state => $"[{string.Join(", ", state.Select(RefOf))}]"));
        return $"lists {listing.Count} version(s) where {states} was expected"
            + (missing.Count > 0 ? $"; missing {string.Join("; ", missing)}" : "")
            + (unexpected.Count > 0 ? $"; not expected {string.Join("; ", unexpected)}" : "");
    }
}
