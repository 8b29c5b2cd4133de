using System.Text.Json;
using Google.Protobuf;
using MGit.Diff;
using MGit.Formats.Onnx.Proto;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>The ONNX computation-graph diff on real models (ONNX backend test data) changed in known ways.</summary>
public sealed class OnnxGraphDiffTests
{
    private static string Fixture(string relative) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", "backend", relative);

    private static StructuralDiffResult GraphDiff(RepoFixture fixture, ModelProto a, ModelProto b)
    {
        string pathA = fixture.Model("a.onnx");
        string pathB = fixture.Model("b.onnx");
        File.WriteAllBytes(pathA, a.ToByteArray());
        File.WriteAllBytes(pathB, b.ToByteArray());
        fixture.Repository.Add(pathA, new AddOptions { Name = "a" });
        fixture.Repository.Add(pathB, new AddOptions { Name = "b", Parents = ["a"] });
        var file = Assert.Single(fixture.Repository.Diff("a", "b").Files);
        return file.Graph ?? throw new InvalidOperationException("no graph diff for an ONNX file");
    }

    [Fact]
    public void Removed_added_rewired_and_reconfigured_operators_are_found_and_weights_are_ignored()
    {
        using var fixture = new RepoFixture();
        var a = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture("light/light_squeezenet.onnx")));
        var b = a.Clone();
        var nodes = b.Graph.Node;

        // 1. An attribute changed: the first integer list of the first node that has one.
        var configured = nodes.First(n => n.Attribute.Any(x => x.Ints.Count > 0));
        var attribute = configured.Attribute.First(x => x.Ints.Count > 0);
        attribute.Ints[0] += 1;

        // 2. A Relu removed, its consumers fed from its input instead.
        var relu = nodes.Last(n => n.OpType == "Relu" && nodes.Count(c => c.Input.Contains(n.Output[0])) == 1);
        var consumer = nodes.Single(c => c.Input.Contains(relu.Output[0]));
        int slot = consumer.Input.IndexOf(relu.Output[0]);
        consumer.Input[slot] = relu.Input[0];
        nodes.Remove(relu);

        // 3. An operator added.
        nodes.Add(new NodeProto { OpType = "Identity", Name = "", Input = { b.Graph.Output[0].Name }, Output = { "extra_output" } });

        var diff = GraphDiff(fixture, a, b);

        Assert.Equal(["attribute_changed", "operator_added", "operator_removed", "rewired"], diff.Structural.Select(c => c.Kind).Order());
        var changed = diff.Structural.Single(c => c.Kind == "attribute_changed");
        Assert.EndsWith($".{attribute.Name}", changed.Subject, StringComparison.Ordinal);
        Assert.NotEqual(changed.Before, changed.After);
        Assert.Contains("Relu", diff.Structural.Single(c => c.Kind == "operator_removed").Before, StringComparison.Ordinal);
        var rewired = diff.Structural.Single(c => c.Kind == "rewired");
        Assert.Contains(relu.Output[0], rewired.Before, StringComparison.Ordinal);
        Assert.DoesNotContain(relu.Output[0], rewired.After, StringComparison.Ordinal);
        Assert.Contains("Identity", diff.Structural.Single(c => c.Kind == "operator_added").After, StringComparison.Ordinal);
        Assert.Equal(diff.Structural, diff.Contextual); // no weight changed
    }

    [Fact]
    public void Changed_weights_appear_only_in_the_contextual_diff_with_the_operators_that_use_them()
    {
        using var fixture = new RepoFixture();
        var a = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture("pytorch-converted/test_Conv2d/model.onnx")));
        var b = a.Clone();
        var weight = b.Graph.Initializer.First(t => t.RawData.Length > 0);
        byte[] data = weight.RawData.ToByteArray();
        data[0] ^= 0x40;
        weight.RawData = ByteString.CopyFrom(data);
        var conv = b.Graph.Node.Single(n => n.Input.Contains(weight.Name));

        var diff = GraphDiff(fixture, a, b);

        Assert.Empty(diff.Structural);
        Assert.Contains(diff.Contextual, c => c.Kind == "values_changed" && c.Subject == weight.Name);
        var used = Assert.Single(diff.Contextual, c => c.Kind == "weights_changed");
        Assert.Contains(conv.OpType, used.Subject, StringComparison.Ordinal);
        Assert.Equal(weight.Name, used.After);
    }

    [Fact]
    public void The_cli_reports_the_graph_diff_in_json()
    {
        using var fixture = new RepoFixture();
        var a = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture("light/light_squeezenet.onnx")));
        var b = a.Clone();
        b.Graph.Node.RemoveAt(b.Graph.Node.Count - 1);
        GraphDiff(fixture, a, b);

        var result = CliRunner.Run(fixture.RepositoryPath, "diff", "a", "b", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out);
        var graph = json.RootElement.GetProperty("files")[0].GetProperty("graph");
        Assert.Contains(graph.GetProperty("structural").EnumerateArray(), c => c.GetProperty("kind").GetString() == "operator_removed");
    }
}
