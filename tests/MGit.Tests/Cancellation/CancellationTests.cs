using System.Diagnostics;
using System.Globalization;
using MGit.Ingest;
using MGit.Primitives;
using MGit.Testing;
using MGit.Tests.TestSupport;
using MGit.Workspace;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cancellation;

/// <summary>
/// A cancelled operation leaves nothing half-published: no version, no partial file, no moved
/// ref, no child process. Each cancel comes from the progress sink once a given number of bytes
/// went by, so it lands mid-way at the same point every run, whatever the machine's speed.
/// </summary>
public sealed class CancellationTests
{
    /// <summary>128 chunks at the fixture's 64 KiB: a cancel after a few of them is mid-way.</summary>
    private const int BigFloats = 2 << 20;

    private const long CancelAfterBytes = 1 << 20;

    [Fact]
    public void A_cancelled_add_stores_no_version_and_leaves_no_object_or_temporary_file()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Write(fx.Model("small.safetensors"), [Random("w", "F32", [1000], 1)]), new AddOptions { Name = "small" });
        string big = Write(fx.Model("big.safetensors"), [Random("w", "F32", [BigFloats], 2)]);
        var objectsBefore = ObjectFiles(fx.RepositoryPath);

        using var cancel = new CancellationTokenSource();
        var sink = new CancellingProgress("adding", CancelAfterBytes, cancel);
        using (var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options with { Progress = sink }))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => repository.Add(big, new AddOptions { Name = "big" }, cancel.Token));
        }

        Assert.True(sink.Cancelled, "the add ended before the cancel came");
        Assert.True(sink.Seen < new FileInfo(big).Length, $"the add went through all {sink.Seen} bytes: the cancel was not mid-way");
        fx.Reopen();
        Assert.Equal(["small@1"], fx.Repository.Graph().Versions.Select(v => v.Ref));
        Assert.True(fx.Repository.Fsck().Intact);
        Assert.Equal(objectsBefore, ObjectFiles(fx.RepositoryPath));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(fx.RepositoryPath, ".mgit", "tmp")));

        // The same add, not cancelled, goes through.
        fx.Repository.Add(big, new AddOptions { Name = "big" });
        fx.Repository.Checkout("big", fx.Scratch("big.out"));
        Assert.Equal(File.ReadAllBytes(big), File.ReadAllBytes(fx.Scratch("big.out")));
    }

    [Fact]
    public void An_add_cancelled_before_it_starts_stores_nothing()
    {
        using var fx = new RepoFixture();
        string model = Write(fx.Model("m.safetensors"), [Random("w", "F32", [100_000], 3)]);
        Assert.ThrowsAny<OperationCanceledException>(() => fx.Repository.Add(model, new AddOptions(), new CancellationToken(canceled: true)));
        Assert.Empty(fx.Repository.Graph().Versions);
        Assert.Empty(ObjectFiles(fx.RepositoryPath));
    }

    [Fact]
    public void A_cancelled_checkout_leaves_no_partial_file_and_takes_back_the_folders_it_made()
    {
        using var fx = new RepoFixture();
        string big = Write(fx.Model("big.safetensors"), [Random("w", "F32", [BigFloats], 4)]);
        fx.Repository.Add(big, new AddOptions { Name = "big" });
        string outer = fx.Scratch("out");
        string output = Path.Combine(outer, "deeper", "big.safetensors");

        using var cancel = new CancellationTokenSource();
        var sink = new CancellingProgress("checking out", CancelAfterBytes, cancel);
        using (var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options with { Progress = sink }))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => repository.Checkout("big", output, cancellationToken: cancel.Token));
        }

        Assert.True(sink.Cancelled, "the checkout ended before the cancel came");
        Assert.True(sink.Seen < new FileInfo(big).Length, "the checkout wrote everything: the cancel was not mid-way");
        Assert.False(Directory.Exists(outer), $"the checkout left {string.Join(", ", Directory.Exists(outer) ? Directory.EnumerateFileSystemEntries(outer, "*", SearchOption.AllDirectories) : [])}");
        Assert.True(fx.Repository.Fsck().Intact);

        // Into a folder that was there: the folder stays, empty.
        string existing = fx.Scratch("existing");
        Directory.CreateDirectory(existing);
        using var again = new CancellationTokenSource();
        using (var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options with { Progress = new CancellingProgress("checking out", CancelAfterBytes, again) }))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => repository.Checkout("big", existing, cancellationToken: again.Token));
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(existing));
    }

    [Fact]
    public void A_cancelled_folder_checkout_takes_back_the_files_it_had_finished()
    {
        using var fx = new RepoFixture();
        string folder = fx.Model("folder");
        Directory.CreateDirectory(folder);
        string first = Write(Path.Combine(folder, "a.safetensors"), [Random("w", "F32", [100_000], 5)]);
        Write(Path.Combine(folder, "b.safetensors"), [Random("w", "F32", [BigFloats], 6)]);
        fx.Repository.Add(folder, new AddOptions { Name = "folder" });
        string output = fx.Scratch("folder-out");

        using var cancel = new CancellationTokenSource();
        bool firstWasInPlace = false;
        var sink = new CancellingProgress("checking out", new FileInfo(first).Length + CancelAfterBytes, cancel, () => firstWasInPlace = File.Exists(Path.Combine(output, "a.safetensors")));
        using (var repository = Repository.Open(fx.RepositoryPath, RepoFixture.Options with { Progress = sink }))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => repository.Checkout("folder", output, cancellationToken: cancel.Token));
        }

        Assert.True(firstWasInPlace, "a.safetensors was not whole when the cancel came; the test proves less than it should");
        Assert.False(Directory.Exists(output), "the cancelled checkout left its folder");
        Assert.True(fx.Repository.Fsck().Intact);
    }

    [Fact]
    public void A_cancelled_pull_from_a_file_remote_leaves_the_lineage_as_it_was_and_a_second_pull_completes()
    {
        using var dir = new TempDirectory();
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        string big = Write(dir.File("big.safetensors"), [Random("w", "F32", [BigFloats], 7)]);
        using (var a = Repository.Init(dir.File("a"), RepoFixture.Options, chunkSize: 64 * 1024))
        {
            a.Add(big, new AddOptions { Name = "big" });
            a.AddRemote("origin", url);
            a.Push();
        }

        string b = dir.File("b");
        Repository.Init(b, RepoFixture.Options, chunkSize: 64 * 1024).Dispose();
        using var cancel = new CancellationTokenSource();
        var sink = new CancellingProgress("fetching objects", CancelAfterBytes, cancel);
        using (var repository = Repository.Open(b, RepoFixture.Options with { Progress = sink }))
        {
            repository.AddRemote("origin", url);
            Assert.ThrowsAny<OperationCanceledException>(() => repository.Pull(cancellationToken: cancel.Token));
        }

        Assert.True(sink.Cancelled, "the pull ended before the cancel came");
        int kept;
        using (var repository = Repository.Open(b, RepoFixture.Options))
        {
            Assert.Empty(repository.Graph().Versions);
            var report = repository.Fsck(); // every object kept is whole and verified
            Assert.True(report.Intact, string.Join("; ", report.Problems));
            kept = report.ObjectsChecked;
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(b, ".mgit", "tmp")));
        }

        Assert.True(kept > 1, "nothing of what arrived before the cancel was kept");
        using (var repository = Repository.Open(b, RepoFixture.Options))
        {
            var pulled = repository.Pull();
            Assert.Equal(["big@1"], pulled.NewVersions);
            repository.Checkout("big", dir.File("big.out"));
        }

        Assert.Equal(File.ReadAllBytes(big), File.ReadAllBytes(dir.File("big.out")));
    }

    [Fact]
    public async Task A_cancelled_async_push_does_not_move_the_remote_lineage()
    {
        using var dir = new TempDirectory();
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        using var cancel = new CancellationTokenSource();
        var sink = new CancellingProgress("pushing", CancelAfterBytes, cancel);
        using (var a = Repository.Init(dir.File("a"), RepoFixture.Options with { Progress = sink }, chunkSize: 64 * 1024))
        {
            a.Add(Write(dir.File("big.safetensors"), [Random("w", "F32", [BigFloats], 8)]), new AddOptions { Name = "big" });
            a.AddRemote("origin", url);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a.PushAsync(cancellationToken: cancel.Token));
            Assert.False(File.Exists(Path.Combine(dir.File("remote"), MGit.Remotes.RemoteLayout.LineageRef)), "the cancelled push published its lineage");
            Assert.True(sink.Cancelled, "the push ended before the cancel came");

            var pushed = await a.PushAsync();
            Assert.True(pushed.LineageUpdated);
        }

        using var clone = await Repository.CloneAsync(url, dir.File("clone"), options: RepoFixture.Options);
        Assert.Equal(["big@1"], clone.Graph().Versions.Select(v => v.Ref));
        Assert.True(clone.Fsck().Intact);
    }

    [LinuxFact("/proc, to see the test's processes")]
    public void A_cancelled_test_run_kills_the_test_command_and_records_nothing()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Write(fx.Model("m.safetensors"), [Random("w", "F32", [1000], 9)]), new AddOptions { Name = "m" });
        string childPid = fx.Scratch("child.pid");
        string script = Scripts.Write(fx.Scratch("hang.sh"), $"sleep 1000 &\necho $! > {Scripts.Quote(childPid)}.tmp\nmv {Scripts.Quote(childPid)}.tmp {Scripts.Quote(childPid)}\nsleep 1000");
        fx.Repository.RegisterTest(new TestDefinition("hang", Scripts.Command(script), TestScope.All, null, TestDefinition.DefaultTimeoutSeconds));

        using var cancel = new CancellationTokenSource();
        var run = Task.Run(() => fx.Repository.RunTests(fx.Repository.Graph().Versions, new TestRunOptions(), cancel.Token));
        int child = WaitForPid(childPid, run);
        Assert.True(IsRunning(child), "the test's sleep is not running");
        cancel.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => run.GetAwaiter().GetResult());
        Assert.False(IsRunning(child), $"the test's sleep {child} outlived the cancelled run");
        Assert.Empty(fx.Repository.Tests.Latest(fx.Repository.Graph()));
    }

    [LinuxFact("/proc, to see the recipe's processes")]
    public void A_cancelled_cascade_kills_its_recipe_and_can_be_resumed()
    {
        using var fx = new RepoFixture();
        File.WriteAllText(fx.Model("base.txt"), "base v1\n");
        fx.Repository.Add(fx.Model("base.txt"), new AddOptions { Name = "base" });
        string childPid = fx.Scratch("child.pid");
        string recipe = Scripts.Write(fx.Scratch("hang.sh"), $"sleep 1000 &\necho $! > {Scripts.Quote(childPid)}.tmp\nmv {Scripts.Quote(childPid)}.tmp {Scripts.Quote(childPid)}\nsleep 1000");
        File.WriteAllText(fx.Model("child.txt"), "base v1\nchild\n");
        fx.Repository.Add(fx.Model("child.txt"), new AddOptions { Name = "child", Parents = ["base"], Recipe = $"{Scripts.Command(recipe)} {{parent}} {{output}}" });
        File.WriteAllText(fx.Model("base.txt"), "base v2\n");
        fx.Repository.Add(fx.Model("base.txt"), new AddOptions { VersionOf = "base" });

        using var cancel = new CancellationTokenSource();
        var cascade = Task.Run(() => fx.Repository.UpdateCascade(null, "base@2", new MGit.Cascade.CascadeOptions(), cancel.Token));
        int child = WaitForPid(childPid, cascade);
        cancel.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => cascade.GetAwaiter().GetResult());
        Assert.False(IsRunning(child), $"the recipe's sleep {child} outlived the cancelled cascade");
        Assert.Equal(["base@1", "base@2", "child@1"], fx.Repository.Graph().Versions.Select(v => v.Ref).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(fx.RepositoryPath, ".mgit", "tmp")));
        var resumable = fx.Repository.ResumeCascade(new MGit.Cascade.CascadeOptions { DryRun = true });
        Assert.Equal(MGit.Cascade.CascadeStatus.Planned, Assert.Single(resumable.Steps).Status);
    }

    /// <summary>
    /// SIGINT to a real mgit adding a large file: the first Ctrl-C cancels the add, which cleans up
    /// and ends with "mgit: cancelled" and 130; the repository is as before. The signal is sent as
    /// soon as the first chunk is on its way to the store, with hundreds still to go.
    /// </summary>
    [LinuxFact("signals")]
    public void Ctrl_c_cancels_a_real_mgit_add_cleanly()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", Write(dir.File("small.safetensors"), [Random("w", "F32", [1000], 10)]), "--name", "small").ExitCode);
        // 256 MiB of noise: 64 chunks of 4 MiB, each compressed and flushed to disk in turn by one worker.
        string big = dir.File("big.safetensors");
        using (var file = File.Create(big))
        {
            // Written a block at a time: the whole file is never in memory.
            string json = $"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{64 << 20}],\"data_offsets\":[0,{256 << 20}]}}}}";
            byte[] header = System.Text.Encoding.UTF8.GetBytes(json.PadRight((json.Length + 7) / 8 * 8));
            file.Write(BitConverter.GetBytes((ulong)header.Length));
            file.Write(header);
            var random = new Random(11);
            var block = new byte[1 << 20];
            for (int i = 0; i < 256; i++)
            {
                random.NextBytes(block);
                file.Write(block);
            }
        }

        string meta = Path.Combine(dir.Path, ".mgit");
        var objectsBefore = ObjectFiles(dir.Path);
        var start = CliRunner.StartInfo("dotnet", dir.Path, [CliRunner.CliAssembly, "add", big, "--name", "big"]);
        start.Environment["MGIT_WORKERS"] = "1";
        using var mgit = Process.Start(start)!;
        var stderr = mgit.StandardError.ReadToEndAsync();
        var stdout = mgit.StandardOutput.ReadToEndAsync();
        try
        {
            // Under way: the first new chunk is being written (a temporary file) or is stored.
            var waited = Stopwatch.StartNew();
            while (Directory.EnumerateFiles(Path.Combine(meta, "tmp")).FirstOrDefault() is null && ObjectFiles(dir.Path).Count == objectsBefore.Count)
            {
                if (mgit.HasExited)
                {
                    Assert.Fail($"mgit ended before it stored anything: {stderr.Result}");
                }

                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "the add never started storing");
                Thread.Sleep(2);
            }

            // A shell without job control starts background jobs with SIGINT ignored, and mgit inherits that: SIGTERM then.
            bool sigint = !IgnoresSigint(mgit.Id);
            using (var kill = Process.Start("kill", [sigint ? "-INT" : "-TERM", mgit.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }

            Assert.True(mgit.WaitForExit(TimeSpan.FromMinutes(2)), "mgit did not end after the signal");
            Assert.True(mgit.ExitCode != 0, $"the add finished before the signal came (stderr: {stderr.Result}); the timing assumption failed");
            Assert.Equal(sigint ? 130 : 143, mgit.ExitCode);
            Assert.Equal("mgit: cancelled", stderr.Result.Trim());
            Assert.Equal("", stdout.Result);
        }
        finally
        {
            if (!mgit.HasExited)
            {
                mgit.Kill(entireProcessTree: true);
            }
        }

        var ls = CliRunner.Run(dir.Path, "ls");
        Assert.DoesNotContain("big", ls.Out, StringComparison.Ordinal);
        var fsck = CliRunner.Run(dir.Path, "fsck");
        Assert.True(fsck.ExitCode == 0, fsck.Out + fsck.Error);
        Assert.Equal(objectsBefore, ObjectFiles(dir.Path));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(meta, "tmp")));
    }

    [Fact]
    public void The_cli_reports_a_cancelled_command_in_one_line_with_exit_130()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        string model = Write(dir.File("m.safetensors"), [Random("w", "F32", [100_000], 12)]);
        var output = new StringWriter();
        var error = new StringWriter();
        var interruption = new MGit.Cli.Interruption();
        var context = new MGit.Cli.CliContext(output, error, dir.Path, name => name == "MGIT_FSYNC" ? "0" : null, ErrorIsTerminal: false) { Interruption = interruption };
        Assert.True(interruption.Interrupt());
        Assert.False(interruption.Interrupt(), "a second interrupt is not the command's to handle");

        Assert.Equal(130, MGit.Cli.MGitCli.Run(["add", model, "--name", "m"], context));
        Assert.Equal("mgit: cancelled", error.ToString().Trim());
        Assert.Equal("", output.ToString());
        Assert.Equal("", CliRunner.Run(dir.Path, "ls").Out.Trim());
        interruption.Dispose();
    }

    /// <summary>Every object file's name in the store.</summary>
    private static List<string> ObjectFiles(string repository) =>
        Directory.EnumerateFiles(Path.Combine(repository, ".mgit", "objects"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(repository, f))
            .Order(StringComparer.Ordinal)
            .ToList();

    private static int WaitForPid(string path, Task run)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                return pid;
            }

            if (run.IsCompleted)
            {
                run.GetAwaiter().GetResult();
                Assert.Fail("the test run ended before its command started");
            }

            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "the test command never started");
            Thread.Sleep(20);
        }
    }

    /// <summary>Alive, and still a sleep (a zombie has ended; a reused id is another program).</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int open = stat.IndexOf('(', StringComparison.Ordinal);
            int close = stat.LastIndexOf(')');
            char state = stat[close + 2];
            return stat[(open + 1)..close] == "sleep" && state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool IgnoresSigint(int pid)
    {
        string mask = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))["SigIgn:".Length..].Trim();
        return (ulong.Parse(mask, NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1UL << (2 - 1))) != 0;
    }

    /// <summary>
    /// Cancels once the tasks whose description starts with <paramref name="prefix"/> have seen
    /// <paramref name="afterBytes"/> bytes, and counts what they saw in all.
    /// </summary>
    private sealed class CancellingProgress(string prefix, long afterBytes, CancellationTokenSource cancel, Action? atCancel = null) : IProgressSink
    {
        private long _seen;
        private int _cancelled;

        public long Seen => Interlocked.Read(ref _seen);

        public bool Cancelled => Volatile.Read(ref _cancelled) == 1;

        public IProgressTask Begin(string description, long totalBytes) =>
            description.StartsWith(prefix, StringComparison.Ordinal) ? new Counter(this) : NoProgress.Instance;

        private void Advance(long bytes)
        {
            if (Interlocked.Add(ref _seen, bytes) >= afterBytes && Interlocked.Exchange(ref _cancelled, 1) == 0)
            {
                atCancel?.Invoke();
                cancel.Cancel();
            }
        }

        private sealed class Counter(CancellingProgress sink) : IProgressTask
        {
            public void Advance(long bytes) => sink.Advance(bytes);

            public void Dispose()
            {
            }
        }
    }
}
