using System.Reflection;
using System.Security.Cryptography;
using MGit.Formats.Onnx;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats.Onnx;

/// <summary>
/// A real model as a NuGet package ships it: the CNTK-exported ResNet-18 of
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (64 MB, weights in float_data), downloaded by the
/// test project's restore (PackageDownload).
/// </summary>
public sealed class OnnxRealModelTests
{
    private static string ResNet18 =>
        Path.Combine(
            typeof(OnnxRealModelTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NuGetPackageRoot").Value!,
            "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    private static byte[] Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return SHA256.HashData(stream);
    }

    [Fact]
    public void The_resnet18_of_a_nuget_package_round_trips_byte_for_byte_with_its_float_data_weights_as_tensors()
    {
        Assert.True(File.Exists(ResNet18), $"the restore should have downloaded {ResNet18}");
        using var fixture = new RepoFixture(chunkSize: 4 * 1024 * 1024);

        var added = fixture.Repository.Add(ResNet18, new AddOptions { Name = "resnet18" });

        var file = Assert.Single(fixture.Repository.Show("resnet18").Manifest.Files);
        Assert.Equal("onnx", file.Format);
        var tensors = fixture.Repository.Show("resnet18").Tensors.ToList();
        var structure = OnnxModel.ReadStructure(ResNet18);
        Assert.Equal(structure.Model.Graph.Initializer.Count, tensors.Count);
        Assert.All(tensors, t => Assert.Equal("F32", t.Dtype));
        // float_data holds nearly all of the file: the skeleton around the weights is small.
        Assert.True(tensors.Sum(t => t.Length) > 0.99 * added.LogicalBytes, $"{tensors.Sum(t => t.Length)} of {added.LogicalBytes} bytes are tensor payload");

        string output = fixture.Scratch("ResNet18.onnx");
        fixture.Repository.Checkout("resnet18", output);
        Assert.Equal(Hash(ResNet18), Hash(output));
    }
}
