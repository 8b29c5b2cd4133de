// A tour of the MGit library without the CLI: create a repository, add a base model and a
// fine-tune derived from it, walk the lineage, read one tensor straight from the store, and check
// a model back out. Run: dotnet run --project samples/LibraryTour [-- FOLDER]
using MGit;
using MGit.Formats.Safetensors;
using MGit.Ingest;
using MGit.Lineage;

string folder = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), $"mgit-library-tour-{Environment.ProcessId}");
Directory.CreateDirectory(folder);

// Two small models: the fine-tune keeps the base's encoder and trains a new head.
float[] encoder = Enumerable.Range(0, 64 * 64).Select(i => MathF.Sin(i) * 0.02f).ToArray();
float[] baseHead = Enumerable.Range(0, 3 * 64).Select(i => MathF.Cos(i) * 0.02f).ToArray();
float[] tunedHead = Enumerable.Range(0, 2 * 64).Select(i => MathF.Cos(i * 3) * 0.02f).ToArray();
string basePath = Path.Combine(folder, "base.safetensors");
string tunedPath = Path.Combine(folder, "tuned.safetensors");
SafetensorsWriter.WriteFile(basePath,
[
    new TensorData("encoder.weight", "F32", [64, 64], SafetensorsWriter.ToBytes(encoder)),
    new TensorData("head.weight", "F32", [3, 64], SafetensorsWriter.ToBytes(baseHead)),
]);
SafetensorsWriter.WriteFile(tunedPath,
[
    new TensorData("encoder.weight", "F32", [64, 64], SafetensorsWriter.ToBytes(encoder)),
    new TensorData("head.weight", "F32", [2, 64], SafetensorsWriter.ToBytes(tunedHead)),
]);

using var repository = Repository.Init(Path.Combine(folder, "repo"));
var added = repository.Add(basePath, new AddOptions { Name = "base", Type = "classifier" });
var tuned = repository.Add(tunedPath, new AddOptions { Name = "tuned", Parents = ["base"], How = "finetune", Message = "new 2-class head" });
Console.WriteLine($"added {added.Version.Ref}, then {tuned.Version.Ref} ({tuned.NewBytes} new bytes: the encoder was already stored)");

// The lineage graph: a snapshot with traversal.
LineageGraph graph = repository.Graph();
var child = graph.Resolve("tuned");
Console.WriteLine($"{child.Ref} derives from {string.Join(", ", graph.Parents(child, EdgeKind.Adapted).Select(p => p.Ref))}");
Console.WriteLine($"descendants of base: {string.Join(", ", graph.Descendants(graph.Resolve("base")).Select(d => d.Ref))}");

// Tensors listed from the manifest, and one read as a stream without checking out the file.
foreach (var tensor in repository.Show("tuned").Tensors)
{
    Console.WriteLine($"  {tensor.Name} {tensor.Dtype} [{string.Join(", ", tensor.Shape)}]");
}

using (var head = repository.OpenTensor("tuned", "head.weight"))
{
    var first = new byte[4];
    head.ReadExactly(first);
    Console.WriteLine($"tuned head.weight[0,0] = {BitConverter.ToSingle(first)} (expected {tunedHead[0]})");
}

string output = repository.Checkout("tuned", Path.Combine(folder, "tuned.checkout.safetensors"));
bool identical = File.ReadAllBytes(output).AsSpan().SequenceEqual(File.ReadAllBytes(tunedPath));
var stats = repository.Stats();
Console.WriteLine($"checkout byte-identical: {identical}; {stats.LogicalBytes} logical bytes in {stats.StoredBytes} stored");
return identical ? 0 : 1;
