using Google.Protobuf;
using MGit.Formats.Onnx.Proto;

namespace MGit.Tests.Formats.Onnx;

/// <summary>
/// Real ONNX files written by the ONNX tooling and the PyTorch exporter: a subset shipped in
/// Fixtures/onnx (with its Apache-2.0 licence), and the whole backend test data when the shared
/// corpus folder is beside the checkout.
/// </summary>
internal static class OnnxCorpus
{
    public static string Fixtures => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx");

    public static string Malformed => Path.Combine(Fixtures, "malformed");

    /// <summary>The shipped subset: models and TensorProto files.</summary>
    public static IEnumerable<string> FixtureFiles(string extension) =>
        Directory.EnumerateFiles(Path.Combine(Fixtures, "backend"), "*" + extension, SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    /// <summary>The full backend test data (shared/corpus/onnx-backend-test-data), or null when it is not here.</summary>
    public static string? Full
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                foreach (string candidate in new[] { Path.Combine(dir.FullName, "shared", "corpus", "onnx-backend-test-data"), Path.Combine(dir.FullName, "corpus", "onnx-backend-test-data") })
                {
                    if (Directory.Exists(candidate))
                    {
                        return candidate;
                    }
                }
            }

            return null;
        }
    }

    /// <summary>Every tensor of a fully parsed model, in the order the scanner meets them.</summary>
    public static List<TensorProto> AllTensors(ModelProto model)
    {
        var result = new List<TensorProto>();
        void Graph(GraphProto g)
        {
            foreach (var node in g.Node)
            {
                Node(node);
            }

            result.AddRange(g.Initializer);
            foreach (var sparse in g.SparseInitializer)
            {
                Sparse(sparse);
            }
        }

        void Sparse(SparseTensorProto s)
        {
            if (s.Values is not null) result.Add(s.Values);
            if (s.Indices is not null) result.Add(s.Indices);
        }

        void Node(NodeProto n)
        {
            foreach (var a in n.Attribute)
            {
                if (a.T is not null) result.Add(a.T);
                if (a.G is not null) Graph(a.G);
                result.AddRange(a.Tensors);
                foreach (var g in a.Graphs) Graph(g);
                if (a.SparseTensor is not null) Sparse(a.SparseTensor);
                foreach (var s in a.SparseTensors) Sparse(s);
            }
        }

        if (model.Graph is not null)
        {
            Graph(model.Graph);
        }

        foreach (var f in model.Functions)
        {
            foreach (var n in f.Node) Node(n);
        }

        foreach (var t in model.TrainingInfo)
        {
            if (t.Initialization is not null) Graph(t.Initialization);
            if (t.Algorithm is not null) Graph(t.Algorithm);
        }

        return result;
    }

    /// <summary>The element bytes a tensor's values span should hold, as Google.Protobuf decodes them.</summary>
    public static byte[] ExpectedSpanBytes(TensorProto t)
    {
        if (t.HasRawData) return t.RawData.ToByteArray();
        if (t.FloatData.Count > 0) return t.FloatData.SelectMany(BitConverter.GetBytes).ToArray();
        if (t.DoubleData.Count > 0) return t.DoubleData.SelectMany(BitConverter.GetBytes).ToArray();
        var packed = new MemoryStream();
        var output = new CodedOutputStream(packed);
        foreach (int v in t.Int32Data) output.WriteInt32(v);
        foreach (long v in t.Int64Data) output.WriteInt64(v);
        foreach (ulong v in t.Uint64Data) output.WriteUInt64(v);
        output.Flush();
        return packed.ToArray();
    }
}
