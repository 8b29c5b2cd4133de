using System.Text.RegularExpressions;
using MGit.Cli;
using MGit.Errors;
using MGit.Ingest;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Testing;
using MGit.Tests.Repo;
using MGit.Tests.TestSupport;
using MGit.Workspace;
using Microsoft.Data.Sqlite;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Errors;

/// <summary>
/// Every kind of <see cref="MGitException"/> met for real through the public API (a caller
/// switches on the kind, never on the message), no SQLite exception leaving the library, and the
/// CLI's exit code for each kind.
/// </summary>
public sealed partial class ErrorKindTests
{
    private static MGitException Kind(ErrorKind expected, Action call)
    {
        // ThrowsAny: DamagedObjectException and InvalidModelFileException are MGitExceptions too.
        var e = Assert.ThrowsAny<MGitException>(call);
        Assert.True(e.Kind == expected, $"expected {expected}, got {e.Kind}: {e.Message}");
        return e;
    }

    private static string Model(RepoFixture fx, string name, int seed) =>
        Write(fx.Model($"{name}.safetensors"), [Random("w", "F32", [1024], seed)]);

    [Fact]
    public void A_missing_model_version_file_or_repository_is_not_found()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Model(fx, "m", 1), new AddOptions());

        Kind(ErrorKind.NotFound, () => fx.Repository.Resolve("nowhere"));
        Kind(ErrorKind.NotFound, () => fx.Repository.Resolve("m@7"));
        Kind(ErrorKind.NotFound, () => fx.Repository.Checkout("nowhere", fx.Scratch("out")));
        Kind(ErrorKind.NotFound, () => fx.Repository.Add(fx.Model("absent.safetensors"), new AddOptions()));
        Kind(ErrorKind.NotFound, () => fx.Repository.OpenTensor("m", "no.such.tensor"));
        Kind(ErrorKind.NotFound, () => fx.Repository.Tests.Get("no-such-test"));
        Kind(ErrorKind.NotFound, () => fx.Repository.Push("no-such-remote"));

        using var empty = new TempDirectory();
        Kind(ErrorKind.NotFound, () => Repository.Open(empty.Path));
    }

    [Fact]
    public void Malformed_references_options_and_model_files_are_invalid_input()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Model(fx, "m", 1), new AddOptions());

        Kind(ErrorKind.InvalidInput, () => fx.Repository.Resolve("m@0"));
        Kind(ErrorKind.InvalidInput, () => fx.Repository.Add(Model(fx, "n", 2), new AddOptions { How = "finetune" }));
        Kind(ErrorKind.InvalidInput, () => fx.Repository.RegisterTest(new TestDefinition("acc", "python3 eval.py {model", TestScope.All, null, 60)));

        // A safetensors file whose header says it is longer than the file.
        string broken = fx.Model("broken.safetensors");
        File.WriteAllBytes(broken, AssembleRaw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"u8.ToArray(), new byte[8]));
        var invalid = Kind(ErrorKind.InvalidInput, () => fx.Repository.Add(broken, new AddOptions()));
        Assert.IsType<InvalidModelFileException>(invalid);

        using var dir = new TempDirectory();
        Kind(ErrorKind.InvalidInput, () => Repository.Init(dir.File("odd"), RepoFixture.Options, chunkSize: 1000).Dispose());
    }

    [Fact]
    public void A_taken_name_an_existing_output_dependents_and_an_existing_repository_are_conflicts()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Model(fx, "m", 1), new AddOptions());
        fx.Repository.Add(Model(fx, "child", 2), new AddOptions { Parents = ["m"], How = "finetune" });

        var taken = Kind(ErrorKind.Conflict, () => fx.Repository.Add(Model(fx, "other", 3), new AddOptions { Name = "m" }));
        Assert.Contains("already exists", taken.Message);
        string output = fx.Scratch("out.safetensors");
        File.WriteAllText(output, "keep me");
        Kind(ErrorKind.Conflict, () => fx.Repository.Checkout("m", output));
        Kind(ErrorKind.Conflict, () => fx.Repository.Remove("m"));
        Kind(ErrorKind.Conflict, () => Repository.Init(fx.RepositoryPath, RepoFixture.Options).Dispose());
        Assert.Equal("keep me", File.ReadAllText(output));
    }

    [Fact]
    public void A_push_to_a_remote_that_moved_on_is_a_conflict_pull_first()
    {
        using var dir = new TempDirectory();
        string remote = dir.File("remote");
        Directory.CreateDirectory(remote);
        string url = new Uri(remote).AbsoluteUri;
        string Model(string name, int seed) => Write(dir.File($"{name}.safetensors"), [Random("w", "F32", [1024], seed)]);

        using var alice = Repository.Init(dir.File("alice"), RepoFixture.Options);
        alice.Add(Model("base", 1), new AddOptions { Name = "base" });
        alice.AddRemote(Repository.DefaultRemote, url);
        alice.Push();
        using var bob = Repository.Clone(url, dir.File("bob"), options: RepoFixture.Options);
        alice.Add(Model("x", 2), new AddOptions { Name = "x", Parents = ["base"] });
        alice.Push();
        bob.Add(Model("y", 3), new AddOptions { Name = "y", Parents = ["base"] });

        var behind = Kind(ErrorKind.Conflict, () => bob.Push());
        Assert.Contains("pull first", behind.Message);
    }

    [Fact]
    public void Gc_while_another_handle_holds_the_repository_lock_is_locked_and_the_cli_says_try_again()
    {
        using var fx = new RepoFixture();
        fx.Repository.Dispose();
        using var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options with { LockWait = TimeSpan.Zero });
        MGitException locked;
        // Held shared, as a running add holds it (the kernel's flock: another open file is another holder).
        using (new FileStream(Path.Combine(fx.RepositoryPath, Repository.DirectoryName, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            locked = Kind(ErrorKind.Locked, () => repository.Gc());
        }

        repository.Gc(); // let go: gc runs

        // The CLI's one error path turns this very error into "try again" (sysexits.h EX_TEMPFAIL).
        var error = new StringWriter();
        int code = MGitCli.Fail(new CliContext(new StringWriter(), error, fx.RepositoryPath, _ => null, ErrorIsTerminal: false), locked);
        Assert.Equal(75, code);
        Assert.Equal($"mgit: {locked.Message}", error.ToString().Trim());
    }

    [Fact]
    public async Task A_file_remote_locked_by_another_push_is_locked()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("remote"));
        using var backend = RemoteBackends.Open(new Uri(dir.File("remote")).AbsoluteUri, null, _ => null);
        await using (await backend.LockAsync("lineage", TimeSpan.Zero, CancellationToken.None))
        {
            var e = await Assert.ThrowsAsync<MGitException>(() => backend.LockAsync("lineage", TimeSpan.Zero, CancellationToken.None));
            Assert.Equal(ErrorKind.Locked, e.Kind);
        }
    }

    [Fact]
    public void A_damaged_object_is_damaged()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        fx.Repository.Add(Model(fx, "m", 1), new AddOptions());
        string chunk = fx.Repository.Show("m").Manifest.Files[0].Segments.First(s => s.Tensor is not null).Chunks[0];
        string path = fx.Repository.Objects.PathOf(ObjectId.Parse(chunk));
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        var e = Kind(ErrorKind.Damaged, () => fx.Repository.Checkout("m", fx.Scratch("m.out")));
        Assert.IsType<DamagedObjectException>(e);
        Assert.False(File.Exists(fx.Scratch("m.out")));
    }

    [Fact]
    public void A_corrupt_lineage_database_is_damaged_and_no_sqlite_exception_leaves_the_library()
    {
        using var fx = new RepoFixture();
        for (int i = 0; i < 3; i++)
        {
            fx.Repository.Add(Model(fx, $"m{i}", i), new AddOptions());
        }

        fx.Repository.Dispose();
        string database = Path.Combine(fx.RepositoryPath, Repository.DirectoryName, "lineage.db");
        using (var file = new FileStream(database, FileMode.Open, FileAccess.Write))
        {
            file.Position = 4096; // past the header SQLite checks on open: the tables
            file.Write(System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("garbage!", 512))));
        }

        // Assert.Throws takes the exact type: an MGitException, not a SqliteException.
        var e = Assert.Throws<MGitException>(() =>
        {
            using var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options);
            repository.Graph();
        });
        Assert.Equal(ErrorKind.Damaged, e.Kind);
        Assert.IsType<SqliteException>(e.InnerException);
        Assert.StartsWith("lineage database error: ", e.Message);

        // Not a database at all: refused as it opens.
        File.WriteAllBytes(database, System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("not a database ", 512))));
        var notADatabase = Assert.Throws<MGitException>(() => Repository.Open(fx.RepositoryPath, RepoFixture.Options).Dispose());
        Assert.Equal(ErrorKind.Damaged, notADatabase.Kind);
        Assert.IsType<SqliteException>(notADatabase.InnerException);
        Assert.StartsWith("cannot open the lineage database: ", notADatabase.Message);
    }

    [Fact]
    public void A_repository_or_lineage_database_from_a_newer_mgit_is_unsupported()
    {
        using var fx = new RepoFixture();
        fx.Repository.Dispose();
        string format = Path.Combine(fx.RepositoryPath, Repository.DirectoryName, RepositoryFormat.FileName);
        string original = File.ReadAllText(format);
        File.WriteAllText(format, Regex.Replace(original, "\"format_version\":\\s*\\d+", "\"format_version\": 99"));
        Assert.Contains("upgrade mgit", Kind(ErrorKind.Unsupported, () => Repository.Open(fx.RepositoryPath).Dispose()).Message);

        File.WriteAllText(format, original);
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(fx.RepositoryPath, Repository.DirectoryName, "lineage.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 42";
            command.ExecuteNonQuery();
        }

        Assert.Contains("schema 42", Kind(ErrorKind.Unsupported, () => Repository.Open(fx.RepositoryPath).Dispose()).Message);
    }

    [Fact]
    public void An_s3_server_that_cannot_be_reached_is_io()
    {
        // Nothing listens on port 1: the connection is refused at once.
        using var remote = RemoteBackends.Open("s3://mgit-test/x", "http://127.0.0.1:1", name => name switch
        {
            "AWS_ACCESS_KEY_ID" => "AKID",
            "AWS_SECRET_ACCESS_KEY" => "secret",
            "AWS_REGION" => "us-east-1",
            _ => null,
        });
        var e = Kind(ErrorKind.Io, () => remote.ListAsync("", CancellationToken.None).GetAwaiter().GetResult());
        Assert.Contains("cannot reach the server", e.Message);
    }

    [FullDiskFact]
    public void A_full_disk_is_no_space_for_the_lineage_database_and_for_objects()
    {
        using var dir = new TempDirectory();
        using var disk = new SmallDisk(16);
        string repo = Path.Combine(disk.Path, "repo");
        using var repository = Repository.Init(repo, RepoFixture.Options);
        string model = Write(dir.File("m.safetensors"), [Random("w", "F32", [256, 1024], 1)]);
        disk.Fill();

        // A write of the lineage database alone (SQLite's "disk is full", or its I/O error on a full disk).
        var database = Kind(ErrorKind.NoSpace, () => repository.RegisterTest(new TestDefinition("acc", "true {model}", TestScope.All, null, 60)));
        Assert.IsType<SqliteException>(database.InnerException);
        Assert.StartsWith("lineage database error: ", database.Message);

        // An add: its objects find no room.
        Assert.Contains("no space left on", Kind(ErrorKind.NoSpace, () => repository.Add(model, new AddOptions())).Message);
    }

    [FullDiskFact]
    public void A_read_only_file_system_is_io_for_the_lineage_database()
    {
        using var disk = new SmallDisk(16);
        string repo = Path.Combine(disk.Path, "repo");
        Repository.Init(repo, RepoFixture.Options).Dispose();
        RemountReadOnly(disk.Path);

        var e = Assert.Throws<MGitException>(() =>
        {
            using var repository = Repository.Open(repo, RepoFixture.Options);
            repository.RegisterTest(new TestDefinition("acc", "true {model}", TestScope.All, null, 60));
        });
        Assert.Equal(ErrorKind.Io, e.Kind);
        Assert.IsType<SqliteException>(e.InnerException);
    }

    private static void RemountReadOnly(string mountPoint)
    {
        using var mount = System.Diagnostics.Process.Start(CliRunner.StartInfo("mount", "/", ["-o", "remount,ro", mountPoint]))!;
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, mount.StandardError.ReadToEnd());
    }

    [Fact]
    public void A_statement_the_lineage_database_refuses_is_internal_and_exit_70_as_before()
    {
        using var fx = new RepoFixture();
        fx.Repository.Dispose();
        // A table its schema version promises is gone: SQLite says only "no such table", as for a statement mgit got wrong.
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(fx.RepositoryPath, Repository.DirectoryName, "lineage.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DROP TABLE tests";
            command.ExecuteNonQuery();
        }

        var e = Assert.Throws<MGitException>(() =>
        {
            using var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options);
            repository.Tests.All();
        });
        Assert.Equal(ErrorKind.Internal, e.Kind);
        Assert.IsType<SqliteException>(e.InnerException);

        var cli = CliRunner.Run(fx.RepositoryPath, "test", "ls");
        Assert.Equal(70, cli.ExitCode);
        Assert.StartsWith("mgit: lineage database error: ", cli.Error);
        Assert.Single(cli.Error.Trim().Split('\n'));
    }

    [Fact]
    public void An_error_made_without_a_kind_is_failed()
    {
        Assert.Equal(ErrorKind.Failed, new MGitException("it did not work").Kind);
        Assert.Equal(ErrorKind.Failed, new MGitException("it did not work", new IOException("disk")).Kind);
        Assert.Equal(ErrorKind.NotFound, new MGitException(ErrorKind.NotFound, "no such thing").Kind);
    }

    /// <summary>The kinds are public API: programs may store or compare their numbers.</summary>
    [Fact]
    public void Kind_values_never_change()
    {
        var expected = new Dictionary<ErrorKind, int>
        {
            [ErrorKind.Failed] = 0,
            [ErrorKind.InvalidInput] = 1,
            [ErrorKind.NotFound] = 2,
            [ErrorKind.Conflict] = 3,
            [ErrorKind.Locked] = 4,
            [ErrorKind.Damaged] = 5,
            [ErrorKind.Unsupported] = 6,
            [ErrorKind.NoSpace] = 7,
            [ErrorKind.Io] = 8,
            [ErrorKind.Internal] = 9,
        };
        Assert.Equal(expected.Keys.Order(), Enum.GetValues<ErrorKind>().Order());
        Assert.All(expected, pair => Assert.Equal(pair.Value, (int)pair.Key));
    }

    /// <summary>The exit code table (README, "Exit codes"): 1 for every kind but Locked (75) and Internal (70).</summary>
    [Fact]
    public void Every_kind_has_its_exit_code()
    {
        foreach (var kind in Enum.GetValues<ErrorKind>())
        {
            int expected = kind switch
            {
                ErrorKind.Locked => 75,
                ErrorKind.Internal => 70,
                _ => 1,
            };
            Assert.Equal(expected, MGitCli.ExitCodeOf(new MGitException(kind, "x")));
        }

        Assert.Equal(1, MGitCli.ExitCodeOf(new IOException("x")));
        Assert.Equal(1, MGitCli.ExitCodeOf(new UnauthorizedAccessException("x")));
        Assert.Equal(70, MGitCli.ExitCodeOf(new InvalidOperationException("x")));
    }

    /// <summary>Every MGitException the library and the CLI make names its kind (the string-only constructor is for other code).</summary>
    [Fact]
    public void Every_mgit_exception_in_the_sources_names_its_kind()
    {
        string sources = Path.Combine(SolutionRoot(), "src");
        var unkinded = new List<string>();
        foreach (string file in Directory.EnumerateFiles(sources, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            string text = File.ReadAllText(file);
            foreach (Match match in WithoutKind().Matches(text))
            {
                int line = text.AsSpan(0, match.Index).Count('\n') + 1;
                unkinded.Add($"{Path.GetRelativePath(sources, file)}:{line}: {match.Value.Trim()}");
            }
        }

        Assert.True(unkinded.Count == 0, "MGitException without a kind:\n" + string.Join('\n', unkinded));
    }

    /// <summary>
    /// <c>new MGitException(</c> (or a target-typed <c>new(</c> returned as one, or a base call) whose
    /// first argument is not a kind: <c>ErrorKind.X</c>, or one of the few names a kind is passed by.
    /// </summary>
    [GeneratedRegex("""(?:new\s+(?:Errors\.)?MGitException\(|MGitException\s+\w+\([^)]*\)\s*=>\s*new\(|:\s*MGitException\()(?!\s*(?:(?:Errors\.)?ErrorKind\.\w+|invalid|e\.Kind|KindOf\([^)]*\))\s*,)""")]
    private static partial Regex WithoutKind();

    private static string SolutionRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "MGit.slnx")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no MGit.slnx above {AppContext.BaseDirectory}");
    }
}
