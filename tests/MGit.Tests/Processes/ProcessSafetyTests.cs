using System.Diagnostics;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Processes;

/// <summary>Real mgit processes racing and dying: the repository must stay consistent.</summary>
public sealed class ProcessSafetyTests
{
    private static void AssertIntact(string repo)
    {
        var fsck = CliRunner.Run(repo, "fsck");
        Assert.True(fsck.ExitCode == 0, $"fsck failed: {fsck.Out} {fsck.Error}");
    }

    private static void AssertChecksOut(string repo, string reference, string original)
    {
        string output = Path.Combine(repo, $"checkout-{Guid.NewGuid():N}");
        var result = CliRunner.Run(repo, "checkout", reference, "-o", output);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(output));
        File.Delete(output);
    }

    [Fact]
    public void Two_processes_adding_at_once_both_succeed_or_fail_cleanly()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        var shared = Random("shared", "F32", [1024, 1024], 1);
        string a = Write(dir.File("a.safetensors"), [shared, Random("a", "F32", [512, 1024], 2)]);
        string b = Write(dir.File("b.safetensors"), [shared, Random("b", "F32", [512, 1024], 3)]);
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", a, "--name", "base").ExitCode);

        // Different names, and two new versions of one model, all at the same time.
        var processes = new[]
        {
            CliRunner.Start(dir.Path, "add", a, "-q"),
            CliRunner.Start(dir.Path, "add", b, "-q"),
            CliRunner.Start(dir.Path, "add", b, "--version-of", "base", "-q"),
            CliRunner.Start(dir.Path, "add", a, "--version-of", "base", "-q"),
        };
        foreach (var p in processes)
        {
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
            Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
            p.Dispose();
        }

        var refs = CliRunner.Run(dir.Path, "ls").Out;
        foreach (string expected in new[] { "base@1", "base@2", "base@3", "a@1", "b@1" })
        {
            Assert.Contains(expected, refs);
        }

        AssertIntact(dir.Path);
        AssertChecksOut(dir.Path, "a", a);
        AssertChecksOut(dir.Path, "b", b);
    }

    [Fact]
    public void Two_processes_adding_one_new_name_leave_exactly_one()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        string a = Write(dir.File("a.safetensors"), [Random("w", "F32", [1024, 1024], 1)]);
        string b = Write(dir.File("b.safetensors"), [Random("w", "F32", [1024, 1024], 2)]);
        var first = CliRunner.Start(dir.Path, "add", a, "--name", "same", "-q");
        var second = CliRunner.Start(dir.Path, "add", b, "--name", "same", "-q");
        Assert.True(first.WaitForExit(TimeSpan.FromMinutes(2)) && second.WaitForExit(TimeSpan.FromMinutes(2)));
        var codes = new[] { first.ExitCode, second.ExitCode };
        string errors = first.StandardError.ReadToEnd() + second.StandardError.ReadToEnd();
        first.Dispose();
        second.Dispose();

        Assert.Contains(0, codes);
        if (codes.All(c => c == 0))
        {
            Assert.Fail("both processes created model 'same'");
        }

        Assert.Contains("mgit: model 'same' already exists", errors);
        Assert.Contains("same@1", CliRunner.Run(dir.Path, "ls").Out);
        Assert.DoesNotContain("same@2", CliRunner.Run(dir.Path, "ls").Out);
        AssertIntact(dir.Path);
    }

    [Fact]
    public void A_checkout_clears_what_killed_checkouts_of_the_same_file_left_and_nothing_else()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        string model = Write(dir.File("m.safetensors"), [Random("w", "F32", [256, 256], 1)]);
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", model, "-q").ExitCode);

        // What checkouts killed midway leave: PATH.mgit-partial-PID. No process has the first id
        // (beyond any pid_max); the test host, alive, has the second.
        string output = dir.File("out.safetensors");
        string stale = output + ".mgit-partial-2147483647";
        string live = output + $".mgit-partial-{Environment.ProcessId}";
        string otherFile = dir.File("other.safetensors.mgit-partial-2147483647");
        foreach (string leftover in new[] { stale, live, otherFile })
        {
            File.WriteAllBytes(leftover, new byte[4096]);
        }

        var checkout = CliRunner.RunProcess(dir.Path, "checkout", "m", "-o", output, "-q");
        Assert.Equal(0, checkout.ExitCode);
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(output));
        Assert.False(File.Exists(stale), "the dead checkout's partial file is removed");
        Assert.True(File.Exists(live), "a running process's partial file is left alone");
        Assert.True(File.Exists(otherFile), "partial files of other paths are left alone");
    }

    [Fact]
    public void The_next_command_that_writes_removes_what_killed_processes_left_in_the_temporary_folder()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        string tmp = Path.Combine(dir.Path, ".mgit", "tmp");
        string model = Write(dir.File("big.safetensors"), [Random("w1", "F32", [4096, 2048], 1), Random("w2", "F32", [2048, 2048], 2)]);

        // A real add killed while it writes: its temporary files carry its process id.
        using (var process = CliRunner.Start(dir.Path, "add", model, "--name", "killed", "-q"))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!process.HasExited && DateTime.UtcNow < deadline && !Directory.EnumerateFiles(tmp).Any(f => f.Contains($".{process.Id}.", StringComparison.Ordinal)))
            {
                Thread.Sleep(5);
            }

            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        // Made up ones: a process id nobody has, the test host's (alive), and a name of no known kind.
        string dead = Path.Combine(tmp, "0123.2147483647.abc.tmp");
        string deadFolder = Path.Combine(tmp, "cascade-1-model.2147483647.abc.tmp");
        string alive = Path.Combine(tmp, $"0123.{Environment.ProcessId}.abc.tmp");
        string unknown = Path.Combine(tmp, "notes.txt");
        File.WriteAllText(dead, "x");
        Directory.CreateDirectory(deadFolder);
        File.WriteAllText(Path.Combine(deadFolder, "model.safetensors"), "x");
        File.WriteAllText(alive, "x");
        File.WriteAllText(unknown, "x");

        Assert.Equal(0, CliRunner.RunProcess(dir.Path, "add", model, "--name", "next", "-q").ExitCode);
        Assert.False(File.Exists(dead));
        Assert.False(Directory.Exists(deadFolder));
        Assert.True(File.Exists(alive), "a running process's temporary file is left alone");
        Assert.True(File.Exists(unknown));
        Assert.Equal([Path.GetFileName(alive), "notes.txt"], Directory.EnumerateFileSystemEntries(tmp).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertIntact(dir.Path);
    }

    [Fact]
    public void A_process_killed_at_any_moment_of_add_leaves_the_model_whole_or_absent()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        // 48 MiB of incompressible weights: 12 chunks of 4 MiB, each written and fsynced.
        string model = Write(dir.File("big.safetensors"), [Random("w1", "F32", [4096, 2048], 1), Random("w2", "F32", [2048, 2048], 2)]);

        var clock = Stopwatch.StartNew();
        var timed = CliRunner.RunProcess(dir.Path, "add", model, "--name", "timing", "-q");
        Assert.Equal(0, timed.ExitCode);
        double fullMs = clock.Elapsed.TotalMilliseconds;
        Assert.Equal(0, CliRunner.Run(dir.Path, "rm", "timing").ExitCode);
        Assert.Equal(0, CliRunner.Run(dir.Path, "gc").ExitCode);

        int killedMidway = 0;
        for (int i = 1; i <= 8; i++)
        {
            string name = $"victim{i}";
            using var process = CliRunner.Start(dir.Path, "add", model, "--name", name, "-q");
            Thread.Sleep(TimeSpan.FromMilliseconds(fullMs * i / 9.0));
            bool finished = process.HasExited;
            if (!finished)
            {
                process.Kill(entireProcessTree: true);
                killedMidway++;
            }

            process.WaitForExit();
            AssertIntact(dir.Path);
            string listing = CliRunner.Run(dir.Path, "ls").Out;
            if (listing.Contains($"{name}@1", StringComparison.Ordinal))
            {
                AssertChecksOut(dir.Path, name, model);
            }
            else
            {
                Assert.False(finished && process.ExitCode == 0, $"{name} finished but is not listed");
            }
        }

        Assert.True(killedMidway > 0, "no process was killed before it finished; the timing assumption failed");

        // Leftovers are only unreferenced objects and temporary files: gc clears them, a new add works.
        Assert.Equal(0, CliRunner.Run(dir.Path, "gc").ExitCode);
        AssertIntact(dir.Path);
        Assert.Equal(0, CliRunner.RunProcess(dir.Path, "add", model, "--name", "survivor", "-q").ExitCode);
        AssertChecksOut(dir.Path, "survivor", model);
    }
}
