using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Storage;

/// <summary>
/// Stale temporaries are judged by process id on the machine that made them only: cluster jobs on
/// several nodes share one repository, and another node's running job must keep its files.
/// </summary>
public sealed class TemporaryFilesTests
{
    [Fact]
    public void Only_this_machines_temporaries_of_dead_processes_are_removed()
    {
        using var dir = new TempDirectory();
        const int Dead = int.MaxValue; // no process has this id
        string mineDead = dir.File($"add.{Dead}@{TemporaryFiles.Host}.aaaa.tmp");
        string mineLive = dir.File(TemporaryFiles.Name("add"));
        string otherNode = dir.File($"add.{Dead}@another-node.bbbb.tmp");
        string olderMgit = dir.File($"add.{Dead}.cccc.tmp");
        string notOurs = dir.File("notes.txt");
        foreach (string file in new[] { mineDead, mineLive, otherNode, olderMgit, notOurs })
        {
            File.WriteAllText(file, "x");
        }

        int removed = TemporaryFiles.RemoveStale(dir.Path);

        Assert.Equal(2, removed);
        Assert.False(File.Exists(mineDead));
        Assert.False(File.Exists(olderMgit)); // a name without a machine is this machine's, as before
        Assert.True(File.Exists(mineLive));
        Assert.True(File.Exists(otherNode));
        Assert.True(File.Exists(notOurs));
        Assert.Equal(Environment.ProcessId, TemporaryFiles.ProcessIdOf(Path.GetFileName(mineLive)));
        Assert.Null(TemporaryFiles.ProcessIdOf(Path.GetFileName(otherNode)));
    }
}
