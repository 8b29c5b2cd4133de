using System.Text.Json;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawPyTorch;

namespace MGit.Tests.Cli;

/// <summary>
/// Real training checkpoints written by torch (issue 23): argparse.Namespace, numpy scalars and
/// arrays, optimizer state, Parameters and tied weights are stored (never executed), their tensors
/// listed and deduplicated, and every checkout is the same file, which torch loads back.
/// </summary>
public sealed class PyTorchCheckpointCliTests
{
    /// <summary>Walks what torch.load returns as MGit names tensors (dict keys, list indexes, object attributes) and prints one name per line.</summary>
    private const string Names = """
        import argparse, sys, torch
        def walk(value, path, out):
            if isinstance(value, torch.Tensor):
                out.append(path)
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(v, f"{path}.{k}" if path else str(k), out)
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    walk(v, f"{path}.{i}" if path else str(i), out)
            elif isinstance(value, argparse.Namespace):
                walk(vars(value), path, out)
        def names(file):
            out = []
            walk(torch.load(file, weights_only=False), "", out)
            return out
        """;

    /// <summary>Loads two files with torch and fails unless they hold equal objects (tensors equal in dtype, shape and values).</summary>
    private const string Compare = Names + "\n" + """
        import numpy as np
        def same(x, y, path):
            if isinstance(x, torch.Tensor):
                assert type(x) is type(y) and x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y), path
            elif isinstance(x, dict):
                assert type(x) is type(y) and list(x) == list(y), path
                for k in x:
                    same(x[k], y[k], f"{path}.{k}")
            elif isinstance(x, (list, tuple)):
                assert type(x) is type(y) and len(x) == len(y), path
                for i, (p, q) in enumerate(zip(x, y)):
                    same(p, q, f"{path}.{i}")
            elif isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and np.array_equal(x, y), path
            elif isinstance(x, argparse.Namespace):
                same(vars(x), vars(y), path)
            else:
                assert type(x) is type(y) and x == y, path
        a = torch.load(sys.argv[1], weights_only=False)
        b = torch.load(sys.argv[2], weights_only=False)
        same(a, b, "")
        print("\n".join(names(sys.argv[2])))
        """;

    /// <summary>A torchvision-reference-style checkpoint after a few steps of training: model, SGD and Adam state, args, metrics.</summary>
    private const string TrainingCheckpoint = """
        import argparse, collections, sys, numpy as np, torch
        torch.manual_seed(int(sys.argv[2]))
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        adam = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(16, 64)
        for opt in (sgd, adam):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
        torch.save({
            "model": model.state_dict(),
            "optimizer": sgd.state_dict(),
            "adam": adam.state_dict(),
            "lr_scheduler": {"last_epoch": 3, "_last_lr": [0.1]},
            "epoch": 3,
            "args": argparse.Namespace(lr=0.1, momentum=0.9, epochs=90, model="mlp", data_path="/data"),
            "best_acc1": np.float64(0.91),
            "mean": np.array([0.485, 0.456, 0.406]),
            "temperature": torch.nn.Parameter(torch.ones(5)),
            "history": collections.OrderedDict(loss=[1.0, 0.5]),
        }, sys.argv[1])
        """;

    [TorchFact]
    public void A_training_checkpoint_with_args_numpy_and_optimizer_state_is_added_shown_and_checked_out()
    {
        using var fx = new RepoFixture();
        string path = fx.Model("checkpoint.pth");
        PythonTorch.Run(TrainingCheckpoint, path, "0");

        var add = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        Assert.True(add.ExitCode == 0, add.Error);

        var text = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", "checkpoint");
        Assert.Equal(0, text.ExitCode);
        string notInterpreted = Assert.Single(text.Out.Split('\n'), l => l.TrimStart().StartsWith("not interpreted: ", StringComparison.Ordinal));
        Assert.Contains("argparse.Namespace", notInterpreted, StringComparison.Ordinal);
        Assert.Contains("multiarray.scalar", notInterpreted, StringComparison.Ordinal);
        Assert.Contains("multiarray._reconstruct", notInterpreted, StringComparison.Ordinal);

        var json = ShowJson(fx, "checkpoint");
        var globals = json.GetProperty("uninterpreted_globals").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains("argparse.Namespace", globals);
        Assert.Contains(globals, g => g.EndsWith("multiarray.scalar", StringComparison.Ordinal));
        Assert.Equal(globals.Order(StringComparer.Ordinal), globals);
        Assert.DoesNotContain(globals, g => g.StartsWith("torch.", StringComparison.Ordinal) || g == "collections.OrderedDict");
        var tensors = json.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.Contains("model.0.weight", tensors);
        Assert.Contains("optimizer.state.0.momentum_buffer", tensors);
        Assert.Contains("adam.state.2.exp_avg_sq", tensors);
        Assert.Contains("temperature", tensors);

        string output = fx.Scratch("out.pth");
        var checkout = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "checkout", "checkpoint", "-o", output);
        Assert.True(checkout.ExitCode == 0, checkout.Error);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));

        // torch loads the checkout into the same objects, and MGit listed exactly the tensors torch finds in it.
        var loaded = PythonTorch.Run(Compare, path, output).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(loaded.Order(StringComparer.Ordinal), tensors.Order(StringComparer.Ordinal));
    }

    [TorchFact]
    public void Tied_weights_are_stored_once_shown_as_one_storage_and_stay_tied_after_checkout()
    {
        using var fx = new RepoFixture();
        string path = fx.Model("tied.pt");
        PythonTorch.Run("""
            import sys, torch
            torch.manual_seed(1)
            class Tied(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.embed = torch.nn.Embedding(1000, 64)
                    self.norm = torch.nn.LayerNorm(64)
                    self.head = torch.nn.Linear(64, 1000, bias=False)
                    self.head.weight = self.embed.weight
            torch.save(Tied().state_dict(), sys.argv[1])
            """, path);

        var add = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        Assert.True(add.ExitCode == 0, add.Error);
        fx.Reopen();
        const long embedBytes = 1000 * 64 * 4;
        // The objects alone: the lineage database's pages (a few per table and index) are not the weight's.
        long objectBytes = new DirectoryInfo(Path.Combine(fx.RepositoryPath, ".mgit", "objects")).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        Assert.True(objectBytes < embedBytes * 3 / 2, $"stored {objectBytes} bytes of objects for a {embedBytes}-byte tied weight");

        var tensors = ShowJson(fx, "tied").GetProperty("tensors").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        var embed = tensors["embed.weight"];
        var head = tensors["head.weight"];
        Assert.Equal((embed.GetProperty("offset").GetInt64(), embed.GetProperty("length").GetInt64()), (head.GetProperty("offset").GetInt64(), head.GetProperty("length").GetInt64()));
        Assert.NotEqual(embed.GetProperty("offset").GetInt64(), tensors["norm.weight"].GetProperty("offset").GetInt64());

        string output = fx.Scratch("out.pt");
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "checkout", "tied", "-o", output).ExitCode);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
        PythonTorch.Run(Compare + "\n" + """
            b = torch.load(sys.argv[2], weights_only=False)
            assert b["embed.weight"].data_ptr() == b["head.weight"].data_ptr(), "no longer tied"
            """, path, output);
    }

    [TorchFact]
    public void Two_checkpoints_of_one_run_share_their_unchanged_tensors_through_the_objects_around_them()
    {
        using var fx = new RepoFixture(chunkSize: 16 * 1024);
        const string Run = """
            import argparse, sys, numpy as np, torch
            torch.manual_seed(7)
            model = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.Linear(512, 512), torch.nn.Linear(512, 16))
            epoch = int(sys.argv[2])
            if epoch == 2:
                with torch.no_grad():
                    model[2].weight.add_(0.01)  # only the small head changed since epoch 1
            torch.save({
                "model": model.state_dict(),
                "epoch": epoch,
                "args": argparse.Namespace(lr=0.1, epochs=90),
                "best_acc1": np.float64(0.5 + epoch / 10),
            }, sys.argv[1])
            """;
        string first = fx.Model("run.pth");
        PythonTorch.Run(Run, first, "1");
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", first, "-q").ExitCode);
        fx.Reopen();
        long before = fx.StoredBytes;

        string second = fx.Scratch("epoch2.pth");
        PythonTorch.Run(Run, second, "2");
        var add = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", second, "--version-of", "run", "-q");
        Assert.True(add.ExitCode == 0, add.Error);
        fx.Reopen();
        long growth = fx.StoredBytes - before;
        const long unchangedBytes = 2 * 512 * 513 * 4;
        Assert.True(growth < unchangedBytes / 10, $"grew {growth} bytes although {unchangedBytes} bytes of tensors are unchanged");

        Assert.Contains("argparse.Namespace", ShowJson(fx, "run@2").GetProperty("uninterpreted_globals").EnumerateArray().Select(e => e.GetString()));
        string output = fx.Scratch("out.pth");
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "checkout", "run@2", "-o", output).ExitCode);
        Assert.Equal(File.ReadAllBytes(second), File.ReadAllBytes(output));
        PythonTorch.Run(Compare, second, output);
    }

    [Fact]
    public void A_checkpoint_holding_an_argparse_namespace_and_a_numpy_scalar_is_stored_with_its_tensors()
    {
        // What torch.save writes for {"model": sd, "args": Namespace(lr=1, mask=t), "acc": numpy.float64(...)}, made without torch.
        var weights = new TorchStorage("0", "FloatStorage", 4, Enumerable.Range(0, 4096).SelectMany(i => BitConverter.GetBytes(i * 0.5f)).ToArray());
        var mask = new TorchStorage("1", "FloatStorage", 4, new byte[64]);
        var p = new PickleWriter();
        p.Proto();
        p.Op('}');
        p.Op('(');
        p.Unicode("model");
        StateDictInto(p, [new View("w", weights, 0, [64, 64], [64, 1])]);
        p.Unicode("args");
        p.Global("argparse", "Namespace");
        p.Op(')');
        p.Op(0x81); // NEWOBJ
        p.Op('}');
        p.Op('(');
        p.Unicode("lr");
        p.Number(1);
        p.Unicode("mask");
        TensorInto(p, new View("mask", mask, 0, [16], [1]));
        p.Op('u');
        p.Op('b'); // BUILD: the Namespace's attributes
        p.Unicode("acc");
        p.Global("numpy.core.multiarray", "scalar");
        p.Global("numpy", "dtype");
        p.Unicode("f8");
        p.Op(0x89);
        p.Op(0x88);
        p.Op(0x87);
        p.Op('R');
        p.Op('(');
        p.Number(3);
        p.Unicode("<");
        p.Op('N');
        p.Op('t');
        p.Op('b');
        p.Op('C');
        p.Op(8);
        p.Raw(BitConverter.GetBytes(0.91));
        p.Op(0x86);
        p.Op('R');
        p.Op('u');
        p.Op('.');
        using var fx = new RepoFixture();
        string path = fx.Model("checkpoint.pth");
        File.WriteAllBytes(path, Checkpoint(p.ToArray(), [weights, mask]));

        var add = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        Assert.True(add.ExitCode == 0, add.Error);
        var text = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", "checkpoint");
        Assert.Contains("    not interpreted: argparse.Namespace, numpy.core.multiarray.scalar, numpy.dtype\n", text.Out, StringComparison.Ordinal);
        var json = ShowJson(fx, "checkpoint");
        Assert.Equal(["argparse.Namespace", "numpy.core.multiarray.scalar", "numpy.dtype"], json.GetProperty("uninterpreted_globals").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["model.w", "args.mask"], json.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()));

        string output = fx.Scratch("out.pth");
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "checkout", "checkpoint", "-o", output).ExitCode);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    [Fact]
    public void A_TorchSharp_state_dict_is_read_tensor_by_tensor()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        RawTorchSharp.Entry[] entries =
        [
            RawTorchSharp.RandomFloat32("fc1.weight", [32, 64], 1),
            RawTorchSharp.RandomFloat32("fc1.bias", [32], 2),
            new("steps", 4, [], BitConverter.GetBytes(300L)),
            new("fc2.weight", 7, [2, 200], new byte[2 * 200 * 8]),
        ];
        string path = fx.Model("model.pt");
        File.WriteAllBytes(path, RawTorchSharp.Write(entries));

        var add = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        Assert.True(add.ExitCode == 0, add.Error);
        var json = ShowJson(fx, "model");
        Assert.Equal("torchsharp", json.GetProperty("files")[0].GetProperty("format").GetString());
        var tensors = json.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(entries.Select(e => e.Name), tensors.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(["F32", "F32", "I64", "F64"], tensors.Select(t => t.GetProperty("dtype").GetString()));
        Assert.Equal([2L, 200L], tensors[3].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Empty(tensors[2].GetProperty("shape").EnumerateArray());

        string output = fx.Scratch("out.pt");
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "checkout", "model", "-o", output).ExitCode);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
        fx.Reopen();
        using var stream = fx.Repository.OpenTensor("model", "fc1.bias");
        var bias = new byte[stream.Length];
        stream.ReadExactly(bias);
        Assert.Equal(entries[1].Data, bias);
    }

    [Fact]
    public void A_TorchSharp_file_that_does_not_read_to_its_end_is_kept_as_a_blob_with_a_note()
    {
        using var fx = new RepoFixture();
        // An element type this reader does not know (a quantised one) in the second entry.
        byte[] bytes = RawTorchSharp.Write([RawTorchSharp.RandomFloat32("fc1.weight", [8, 8], 3), new("q", 12, [4], new byte[4])]);
        string path = fx.Model("weights.pt");
        File.WriteAllBytes(path, bytes);

        var add = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        Assert.True(add.ExitCode == 0, add.Error);
        var text = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", "weights");
        Assert.Contains("weights.pt  blob", text.Out, StringComparison.Ordinal);
        Assert.Contains("note: starts like a TorchSharp state dict", text.Out, StringComparison.Ordinal);
        string output = fx.Scratch("out.pt");
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "checkout", "weights", "-o", output).ExitCode);
        Assert.Equal(bytes, File.ReadAllBytes(output));
    }

    private static JsonElement ShowJson(RepoFixture fx, string reference)
    {
        var result = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", reference, "--json");
        Assert.True(result.ExitCode == 0, result.Error);
        using var json = JsonDocument.Parse(result.Out);
        return json.RootElement.Clone();
    }
}
