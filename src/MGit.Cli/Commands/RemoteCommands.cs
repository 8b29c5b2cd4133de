using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Errors;
using MGit.Remotes;

namespace MGit.Cli.Commands;

/// <summary>mgit remote add|ls|rm|fsck|gc: the remotes of a repository (kept in .mgit/remotes.json), and their upkeep.</summary>
public static class RemoteCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var command = new Command("remote", "Manage remotes: file:///path or s3://bucket/prefix");

        var name = new Argument<string>("NAME") { Description = "Remote name (clone calls its remote 'origin')" };
        var url = new Argument<string>("URL") { Description = "file:///absolute/path or s3://bucket/prefix" };
        var endpoint = new Option<string?>("--endpoint") { Description = "S3-compatible server, e.g. http://127.0.0.1:9000 [default: AWS]" };
        var add = new Command("add", "Add a remote") { name, url, endpoint };
        add.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            repository.AddRemote(parse.GetValue(name)!, parse.GetValue(url)!, parse.GetValue(endpoint));
            return 0;
        });

        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var list = new Command("ls", "List remotes") { json };
        list.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var remotes = repository.Remotes();
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, Json.Array(remotes, r => new JsonObject { ["name"] = r.Name, ["url"] = r.Url, ["endpoint"] = r.Endpoint }));
                return 0;
            }

            foreach (var r in remotes)
            {
                context.Out.WriteLine(r.Endpoint is null ? $"{r.Name}\t{r.Url}" : $"{r.Name}\t{r.Url}\t(endpoint {r.Endpoint})");
            }

            return 0;
        });

        var removeName = new Argument<string>("NAME") { Description = "Remote to forget (nothing on the remote is touched)" };
        var remove = new Command("rm", "Remove a remote") { removeName };
        remove.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            repository.RemoveRemote(parse.GetValue(removeName)!);
            return 0;
        });

        command.Subcommands.Add(add);
        command.Subcommands.Add(list);
        command.Subcommands.Add(remove);
        command.Subcommands.Add(BuildFsck(globals, context));
        command.Subcommands.Add(BuildGc(globals, context));
        return command;
    }

    private static Command BuildFsck(GlobalOptions globals, CliContext context)
    {
        var remote = new Argument<string?>("REMOTE") { Description = "Remote name [default: the only remote, else origin]", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print JSON: url, versions, objects, referenced, unreferenced, old_snapshots, temp_files, problems" };
        var command = new Command("fsck", "Check a remote: its lineage, every manifest and object its versions need; report what it holds that nothing needs") { remote, json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var report = repository.RemoteFsck(parse.GetValue(remote), context.Cancellation);
            Render(context, report, parse.GetValue(json));
            return report.Intact ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }

    private static Command BuildGc(GlobalOptions globals, CliContext context)
    {
        var remote = new Argument<string?>("REMOTE") { Description = "Remote name [default: the only remote, else origin]", Arity = ArgumentArity.ZeroOrOne };
        var prune = new Option<bool>("--prune") { Description = "Delete what nothing needs (without it, only report)" };
        var expire = new Option<string>("--expire") { Description = "Only what is older than this: 0, 90s, 30m, 1h, 2d", DefaultValueFactory = _ => "1h" };
        var json = new Option<bool>("--json") { Description = "Print JSON: what remote fsck prints, and removed" };
        var command = new Command("gc", "Report, and with --prune delete, a remote's unreferenced objects, old lineage snapshots and temporary files") { remote, prune, expire, json };
        command.SetAction(parse =>
        {
            var age = Duration(parse.GetValue(expire)!);
            using var repository = globals.OpenRepository(parse, context);
            var report = repository.RemoteGc(parse.GetValue(remote), parse.GetValue(prune), age, context.Cancellation);
            Render(context, report, parse.GetValue(json));
            return 0;
        });
        return command;
    }

    /// <summary>A duration as users write it: a whole number and a unit (s, m, h, d); 0 alone is allowed.</summary>
    private static TimeSpan Duration(string text)
    {
        if (text == "0")
        {
            return TimeSpan.Zero;
        }

        if (text.Length >= 2 && long.TryParse(text.AsSpan(0, text.Length - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long amount) && amount <= 100_000)
        {
            switch (text[^1])
            {
                case 's': return TimeSpan.FromSeconds(amount);
                case 'm': return TimeSpan.FromMinutes(amount);
                case 'h': return TimeSpan.FromHours(amount);
                case 'd': return TimeSpan.FromDays(amount);
            }
        }

        throw new MGitException(ErrorKind.InvalidInput, $"--expire must be 0 or a whole number with s, m, h or d (90s, 30m, 1h, 2d), not '{text}'");
    }

    private static void Render(CliContext context, RemoteReport report, bool json)
    {
        static JsonObject Files(RemoteFiles files) => new() { ["count"] = files.Count, ["bytes"] = files.Bytes };
        if (json)
        {
            var result = new JsonObject
            {
                ["url"] = report.Url,
                ["versions"] = report.Versions,
                ["objects"] = Files(report.Objects),
                ["referenced"] = Files(report.Referenced),
                ["unreferenced"] = Files(report.Unreferenced),
                ["old_snapshots"] = Files(report.OldSnapshots),
                ["temp_files"] = Files(report.TempFiles),
                ["problems"] = Json.Array(report.Problems),
            };
            if (report.Removed is { } removed)
            {
                result["removed"] = Files(removed);
            }

            Json.Write(context.Out, result);
            return;
        }

        var o = context.Out;
        o.WriteLine($"{report.Url}: {report.Versions} version(s), {report.Objects.Count} object(s) ({LineageTree.Size(report.Objects.Bytes)}), {report.Referenced.Count} needed by the lineage");
        o.WriteLine($"  unreferenced objects: {report.Unreferenced.Count} ({LineageTree.Size(report.Unreferenced.Bytes)})");
        o.WriteLine($"  old lineage snapshots: {report.OldSnapshots.Count} ({LineageTree.Size(report.OldSnapshots.Bytes)})");
        o.WriteLine($"  temporary files: {report.TempFiles.Count} ({LineageTree.Size(report.TempFiles.Bytes)})");
        if (report.Removed is { } gone)
        {
            o.WriteLine($"  removed: {gone.Count} file(s) ({LineageTree.Size(gone.Bytes)})");
        }

        foreach (string problem in report.Problems)
        {
            o.WriteLine($"problem: {problem}");
        }

        o.WriteLine(report.Intact ? "ok" : $"{report.Problems.Count} problem(s)");
    }
}

public static class PushCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var remote = new Argument<string?>("REMOTE") { Description = "Remote name [default: the only remote, else origin]", Arity = ArgumentArity.ZeroOrOne };
        var refs = new Argument<string[]>("REF") { Description = "Versions to push, with their ancestors [default: every version]", Arity = ArgumentArity.ZeroOrMore };
        var json = new Option<bool>("--json") { Description = "Print JSON: objects_sent, bytes_sent, versions_published, from_adds_only" };
        var withResults = PullCommand.WithResultsOption("Send the recorded test results of the versions pushed too (registered tests always go)");
        var command = new Command("push", "Send versions, tags, registered tests and the objects the remote lacks; refused when the remote has versions not pulled yet") { remote, refs, json, withResults };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            string name = parse.GetValue(remote) ?? repository.DefaultRemoteName();
            if (repository.Remotes().All(r => r.Name != name) && repository.Graph().Versions.Any(v => v.Name == name || v.Ref == name))
            {
                // As in git, the first word is the remote: say so when it names a model instead.
                throw new MGitException(ErrorKind.NotFound, $"no remote named '{name}'; to push model {name}, name the remote first: mgit push {repository.DefaultRemoteName()} {name}");
            }

            var result = repository.Push(name, parse.GetValue(refs) ?? [], parse.GetValue(withResults), context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["objects_sent"] = result.ObjectsSent,
                    ["bytes_sent"] = result.BytesSent,
                    ["versions_published"] = result.VersionsPublished,
                    ["from_adds_only"] = result.FromAddsOnly,
                });
            }
            else
            {
                context.Out.WriteLine(result.LineageUpdated || result.ObjectsSent > 0
                    ? $"pushed {result.ObjectsSent} object(s), {LineageTree.Size(result.BytesSent)} to {name}; {result.VersionsPublished} new version(s) on the remote"
                    : $"{name} is up to date");
            }

            return 0;
        });
        return command;
    }
}

public static class PullCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var remote = new Argument<string?>("REMOTE") { Description = "Remote name [default: the only remote, else origin]", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print JSON: objects_received, bytes_received, skipped, tag_conflicts, test_conflicts, parent_conflicts, test_results_received, new_versions, from_adds_only" };
        var skipBroken = SkipBrokenOption();
        var withResults = WithResultsOption("Take the remote's recorded test results too (registered tests always come)");
        var command = new Command("pull", "Fetch new versions and their objects, and merge the remote's lineage (with tags and registered tests) into this one") { remote, json, skipBroken, withResults };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            string name = parse.GetValue(remote) ?? repository.DefaultRemoteName();
            var result = repository.Pull(name, parse.GetValue(skipBroken), parse.GetValue(withResults), context.Cancellation);
            Report(parse, globals, context, result);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["objects_received"] = result.ObjectsReceived,
                    ["bytes_received"] = result.BytesReceived,
                    ["skipped"] = Json.Array(result.Skipped),
                    ["tag_conflicts"] = Json.Array(result.TagConflicts.Select(c => c.Tag)),
                    ["test_conflicts"] = Json.Array(result.TestConflicts),
                    ["parent_conflicts"] = Json.Array(result.ParentConflicts),
                    ["test_results_received"] = result.TestResultsReceived,
                    ["new_versions"] = Json.Array(result.NewVersions),
                    ["from_adds_only"] = result.FromAddsOnly,
                });
            }
            else
            {
                context.Out.WriteLine($"received {result.ObjectsReceived} object(s), {LineageTree.Size(result.BytesReceived)}; {result.NewVersions.Count} new version(s)");
            }

            // A tag moved on both sides is left as it is here; the pull fails so scripts notice.
            foreach (var conflict in result.TagConflicts)
            {
                context.Error.WriteLine($"mgit: {conflict}");
            }

            foreach (string conflict in result.TestConflicts.Concat(result.ParentConflicts))
            {
                context.Error.WriteLine($"mgit: {conflict}");
            }

            return result.TagConflicts.Count > 0 || result.TestConflicts.Count > 0 || result.ParentConflicts.Count > 0 ? MGitCli.ExitFailure : 0;
        });
        return command;
    }

    public static Option<bool> WithResultsOption(string description) => new("--with-results") { Description = description };

    public static Option<bool> SkipBrokenOption() => new("--skip-broken")
    {
        Description = "Take what is sound of a remote whose lineage is partly broken (malformed versions, edges to nowhere or closing a cycle, manifests naming unsafe paths), and report what was left out",
    };

    /// <summary>Broken parts left out; always shown, since what the user asked for is not all there.</summary>
    public static void ReportSkipped(CliContext context, IReadOnlyList<string> skipped)
    {
        foreach (string problem in skipped)
        {
            context.Error.WriteLine($"mgit: skipped: {problem}");
        }
    }

    /// <summary>New versions, renumbered local versions and skipped broken parts, on stderr (stdout stays the result).</summary>
    public static void Report(ParseResult parse, GlobalOptions globals, CliContext context, PullResult result)
    {
        ReportSkipped(context, result.Skipped);
        foreach (string added in result.NewVersions)
        {
            GlobalOptions.Say(parse, globals, context, $"new: {added}");
        }

        foreach (string tag in result.TagsMoved)
        {
            GlobalOptions.Say(parse, globals, context, $"tag {tag} updated from the remote");
        }

        foreach (string test in result.TestsMoved)
        {
            GlobalOptions.Say(parse, globals, context, $"test '{test}' registered from the remote");
        }

        foreach (string child in result.ParentsChanged)
        {
            GlobalOptions.Say(parse, globals, context, $"parents of {child} updated from the remote");
        }

        if (result.TestResultsReceived > 0)
        {
            GlobalOptions.Say(parse, globals, context, $"{result.TestResultsReceived} test result(s) received");
        }

        foreach (var moved in result.Renumbered)
        {
            // Always shown: a ref the user knew now names another version.
            context.Error.WriteLine($"mgit: renumbered local {moved.Name}@{moved.From} to {moved.Name}@{moved.To}: the remote's {moved.Name}@{moved.From} is a different version");
        }
    }
}

public static class CloneCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var url = new Argument<string>("URL") { Description = "file:///absolute/path or s3://bucket/prefix" };
        var directory = new Argument<string?>("DIR") { Description = "New folder for the repository (relative to -C when given) [default: the remote's last path part]", Arity = ArgumentArity.ZeroOrOne };
        var endpoint = new Option<string?>("--endpoint") { Description = "S3-compatible server, e.g. http://127.0.0.1:9000 [default: AWS]" };
        var lazy = new Option<bool>("--lazy") { Description = "Fetch the lineage and manifests only; checkout fetches the objects it needs" };
        var skipBroken = PullCommand.SkipBrokenOption();
        var withResults = PullCommand.WithResultsOption("Take the remote's recorded test results too (registered tests always come)");
        var command = new Command("clone", "Copy a remote into a new repository; the remote becomes 'origin'") { url, directory, endpoint, lazy, skipBroken, withResults };
        command.SetAction(parse =>
        {
            // -C means "run as if started in DIR", as in git: the new folder is made there.
            string folder = parse.GetValue(directory) ?? FolderNameOf(parse.GetValue(url)!);
            string target = context.ResolvePath(Path.Combine(parse.GetValue(globals.Repo) ?? ".", folder));
            using var repository = Repository.Clone(parse.GetValue(url)!, target, parse.GetValue(endpoint), parse.GetValue(lazy), parse.GetValue(skipBroken), parse.GetValue(withResults), globals.Options(parse, context), out var skipped, context.Cancellation);
            PullCommand.ReportSkipped(context, skipped);
            var graph = repository.Graph();
            GlobalOptions.Say(parse, globals, context, $"cloned {graph.Versions.Count} version(s) into {repository.Root}{(parse.GetValue(lazy) ? " (lazy: objects are fetched on checkout)" : "")}");
            return 0;
        });
        return command;
    }

    /// <summary>The folder a clone makes when none is named: the last part of the remote's path, as git names it.</summary>
    private static string FolderNameOf(string url)
    {
        string name = url.TrimEnd('/').Split('/')[^1];
        if (name.Length == 0 || name.EndsWith(':'))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"cannot name a folder after {url}; name one: mgit clone URL DIR");
        }

        return name;
    }
}
