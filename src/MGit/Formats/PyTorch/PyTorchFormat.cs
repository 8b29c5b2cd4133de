using System.IO.Compression;

namespace MGit.Formats.PyTorch;

/// <summary>
/// Reads the layout of a PyTorch checkpoint (<c>torch.save</c>, PyTorch 1.6 and later): a zip
/// archive whose <c>data.pkl</c> is read by <see cref="RestrictedUnpickler"/> (never executed) to
/// find the tensors, and whose <c>data/KEY</c> members hold the storages. Each stored (uncompressed)
/// storage member is a tensor segment; the tensors are recorded as views into them (name, dtype,
/// shape, offset, stride), so several tensors sharing a storage are all listed. Legacy (pre-1.6)
/// pickles are kept as opaque blobs with a note.
/// </summary>
internal sealed class PyTorchFormat : IModelFormat
{
    public const string LegacyFormatName = "pytorch-legacy";

    /// <summary>File metadata key listing (comma-separated, sorted) the globals a checkpoint's pickle refers to that were kept but not interpreted.</summary>
    public const string UninterpretedKey = "uninterpreted_globals";

    /// <summary>State dict pickles are small (a few hundred bytes per tensor): a larger one is refused before it is read.</summary>
    public const int MaxPickleLength = 64 * 1024 * 1024;

    private const int MaxNestingDepth = 64;

    private static ReadOnlySpan<byte> ZipMagic => [0x50, 0x4B, 0x03, 0x04];

    /// <summary>PROTO 2, LONG1 of 10 bytes: torch's legacy magic number 0x1950a86a20f9469cfc6c.</summary>
    private static ReadOnlySpan<byte> LegacyMagic => [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19];

    public string Name => "pytorch";

    public bool ClaimsByName(string fileName) =>
        fileName.EndsWith(".pt", StringComparison.OrdinalIgnoreCase)
        || fileName.EndsWith(".pth", StringComparison.OrdinalIgnoreCase)
        || (fileName.StartsWith("pytorch_model", StringComparison.Ordinal) && fileName.EndsWith(".bin", StringComparison.Ordinal));

    /// <summary>Any zip archive is a candidate (one without data.pkl falls back to a blob); so is a legacy torch pickle.</summary>
    public bool Matches(ReadOnlySpan<byte> prefix, string fileName) => prefix.StartsWith(ZipMagic) || prefix.StartsWith(LegacyMagic) || ClaimsByName(fileName);

    public FileLayout ReadLayout(Stream stream, long length, string displayName)
    {
        var reader = new LittleEndianFileReader(stream, length, displayName);
        Span<byte> prefix = stackalloc byte[LegacyMagic.Length];
        int read = (int)Math.Min(prefix.Length, length);
        reader.ReadExactly(prefix[..read], "the file's first bytes");
        if (prefix[..read].StartsWith(LegacyMagic))
        {
            var note = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["note"] = "legacy (pre-1.6, non-zip) PyTorch pickle: stored as an opaque blob, its tensors are not listed",
            };
            return FileLayout.FromTensorSpans(LegacyFormatName, length, [], note);
        }

        if (!prefix[..read].StartsWith(ZipMagic))
        {
            return ReadTorchSharp(reader, length);
        }

        var entries = ZipDirectory.Read(reader);
        var pickles = entries.Where(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal) && e.Name.IndexOf('/') == e.Name.Length - "/data.pkl".Length).ToList();
        if (pickles.Count != 1)
        {
            throw reader.Bad(pickles.Count == 0 ? "zip archive without a data.pkl: not a PyTorch checkpoint" : "zip archive with several data.pkl records");
        }

        try
        {
            var (layout, rootGlobal) = FormatRecognition.Recognized(displayName, () => ReadCheckpoint(reader, entries, pickles[0], length));
            if (rootGlobal is not null && !layout.Tensors.Any() && !ClaimsByName(Path.GetFileName(displayName)))
            {
                // A pickled object without tensors (Hugging Face's training_args.bin beside the weights):
                // kept byte for byte as before, so the folder stays whole and infer does not take it for a model.
                var note = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["note"] = $"a torch.save archive of '{rootGlobal}', not a state dict: stored as an opaque blob (its pickle is never executed)",
                };
                return FileLayout.FromTensorSpans("blob", length, [], note);
            }

            return layout;
        }
        catch (ForeignPickleException e) when (!ClaimsByName(Path.GetFileName(displayName)))
        {
            // Not named as a checkpoint: never executed either way; kept byte for byte so the folder stays whole.
            var note = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["note"] = $"a torch.save archive that refers to '{e.Global}', which would run code when unpickled: stored as an opaque blob (its pickle is never executed)",
            };
            return FileLayout.FromTensorSpans("blob", length, [], note);
        }
        catch (ForeignPickleException e)
        {
            throw new Errors.InvalidModelFileException(displayName, e.Message) { Recognized = true };
        }
    }

    /// <summary>
    /// A file TorchSharp's Module.save wrote: its tensors when every entry reads; kept as an opaque
    /// blob with a note when it starts like one but does not read to its end (a layout this reader
    /// does not know), so TorchSharp files are never refused. A file that does not even start like
    /// one is not a checkpoint.
    /// </summary>
    private static FileLayout ReadTorchSharp(LittleEndianFileReader reader, long length)
    {
        if (!TorchSharpLayout.BeginsLikeOne(reader))
        {
            throw reader.Bad("not a PyTorch checkpoint (neither a zip archive, a legacy torch pickle nor a TorchSharp state dict)");
        }

        try
        {
            return TorchSharpLayout.Read(reader);
        }
        catch (Errors.InvalidModelFileException e)
        {
            var note = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["note"] = $"starts like a TorchSharp state dict (Module.save) but does not read as one ({e.Problem}): stored as an opaque blob, its tensors are not listed",
            };
            return FileLayout.FromTensorSpans("blob", length, [], note);
        }
    }

    /// <summary>The checkpoint's layout, and the global its root object was made by when the root is an uninterpreted object.</summary>
    private (FileLayout Layout, string? RootGlobal) ReadCheckpoint(LittleEndianFileReader reader, IReadOnlyList<ZipEntry> entries, ZipEntry pickleEntry, long length)
    {
        string archive = pickleEntry.Name[..pickleEntry.Name.IndexOf('/')];
        var byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        if (byName.TryGetValue($"{archive}/byteorder", out var byteOrder))
        {
            string order = System.Text.Encoding.ASCII.GetString(ReadMember(reader, byteOrder, 16)).Trim();
            if (order != "little")
            {
                throw reader.Unsupported($"storages are in '{order}' byte order; only little-endian checkpoints are supported");
            }
        }

        byte[] pickle = ReadMember(reader, pickleEntry, MaxPickleLength);
        var (root, uninterpreted) = RestrictedUnpickler.Read(pickle, reader.Bad);
        var tensors = new List<(string Name, TorchTensor Tensor)>();
        CollectTensors(root, null, 0, tensors, new HashSet<object>(ReferenceEqualityComparer.Instance), new HeaderBudget(reader.Bad), reader);

        // One segment per stored storage member, named after the first tensor that uses it (so a fine-tuned
        // checkpoint's storages pair with its parent's by tensor name, whatever keys torch.save gave them).
        var storages = new Dictionary<string, (TorchStorage Storage, ZipEntry Entry, List<(string Name, TorchTensor Tensor)> Users)>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            var storage = tensor.Storage;
            if (!storages.TryGetValue(storage.Key, out var known))
            {
                if (!byName.TryGetValue($"{archive}/data/{storage.Key}", out var entry))
                {
                    throw reader.Bad($"tensor '{name}' uses storage '{storage.Key}', which has no data/{storage.Key} member");
                }

                if (entry.Length != storage.ByteLength)
                {
                    throw reader.Bad($"storage '{storage.Key}' holds {entry.Length} bytes, its {storage.ElementCount} {storage.Dtype.Name} elements need {storage.ByteLength}");
                }

                known = (storage, entry, []);
                storages.Add(storage.Key, known);
            }
            else if (known.Storage.ByteLength != storage.ByteLength)
            {
                throw reader.Bad($"storage '{storage.Key}' is described with two different sizes");
            }

            CheckView(reader, name, tensor);
            known.Users.Add((name, tensor));
        }

        var spans = storages.Values
            .Where(s => s.Entry.IsStored)
            .Select(s => new Segment(s.Entry.DataOffset, s.Entry.Length, SegmentTensor(s.Storage, s.Users)))
            .ToList();
        // Shown by `mgit show`: what the pickle holds beyond tensors and plain values, kept but not interpreted.
        var metadata = uninterpreted.Count == 0 ? null : new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [UninterpretedKey] = string.Join(", ", uninterpreted),
        };
        var layout = FileLayout.FromTensorSpans(Name, length, spans, metadata);
        var segmentAt = new Dictionary<long, int>();
        for (int i = 0; i < layout.Segments.Count; i++)
        {
            if (layout.Segments[i].Tensor is not null)
            {
                segmentAt[layout.Segments[i].Offset] = i;
            }
        }

        var views = tensors.Select(t =>
        {
            var entry = storages[t.Tensor.Storage.Key].Entry;
            int? segment = entry.IsStored ? segmentAt[entry.DataOffset] : null;
            long first = checked(t.Tensor.StorageOffset * t.Tensor.Dtype.Size);
            return new TensorView(
                new TensorInfo(t.Name, t.Tensor.Dtype.Name, t.Tensor.Shape, t.Tensor.Dtype.Layout),
                segment,
                t.Tensor.StorageOffset,
                t.Tensor.Stride,
                checked(entry.DataOffset + first),
                checked(Extent(t.Tensor) * t.Tensor.Dtype.Size));
        }).ToList();
        return (layout with { Views = views }, (root as PickleObject)?.Global);
    }

    /// <summary>What the storage segment is called: the one tensor that is exactly all of it, else the first user's name and dtype over a flat shape.</summary>
    private static TensorInfo SegmentTensor(TorchStorage storage, List<(string Name, TorchTensor Tensor)> users)
    {
        var (name, first) = users[0];
        if (users.Count == 1 && first.StorageOffset == 0 && IsContiguous(first) && checked(Elements(first) * first.Dtype.Size) == storage.ByteLength)
        {
            return new TensorInfo(name, first.Dtype.Name, first.Shape, first.Dtype.Layout);
        }

        var dtype = users.All(u => u.Tensor.Dtype == first.Dtype) && storage.ByteLength % first.Dtype.Size == 0 ? first.Dtype : storage.Dtype;
        return new TensorInfo(name, dtype.Name, [storage.ByteLength / dtype.Size], dtype.Layout);
    }

    private static void CheckView(LittleEndianFileReader reader, string name, TorchTensor tensor)
    {
        if (tensor.Shape.Length != tensor.Stride.Length)
        {
            throw reader.Bad($"tensor '{name}' has {tensor.Shape.Length} dimensions but {tensor.Stride.Length} strides");
        }

        try
        {
            long end = checked((tensor.StorageOffset + Extent(tensor)) * tensor.Dtype.Size);
            if (end > tensor.Storage.ByteLength)
            {
                throw reader.Bad($"tensor '{name}' reads up to byte {end} of storage '{tensor.Storage.Key}', which has {tensor.Storage.ByteLength}");
            }
        }
        catch (OverflowException)
        {
            throw reader.Bad($"tensor '{name}' has a shape, stride or offset whose size overflows");
        }
    }

    /// <summary>Elements of the storage a strided view spans: 1 + sum of (size - 1) x stride, or 0 when it is empty.</summary>
    private static long Extent(TorchTensor tensor)
    {
        if (tensor.Shape.Contains(0))
        {
            return 0;
        }

        long last = 0;
        for (int i = 0; i < tensor.Shape.Length; i++)
        {
            last = checked(last + ((tensor.Shape[i] - 1) * tensor.Stride[i]));
        }

        return checked(last + 1);
    }

    private static long Elements(TorchTensor tensor) => tensor.Shape.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>C-order strides (dimensions of size 1 may carry any stride).</summary>
    private static bool IsContiguous(TorchTensor tensor) => TensorView.IsContiguous(tensor.Shape, tensor.Stride);

    /// <summary>Finds the tensors of a state dict, or of a checkpoint that nests one ({"model": {...}, "epoch": 3}), named by their key path.</summary>
    /// <remarks>
    /// Key paths are <see cref="KeyPath"/> chains, made into text only for tensors: a string per
    /// child repeated every ancestor's keys, so long keys nested deep cost time and memory
    /// quadratic in the pickle. The tensors found and their names are counted against
    /// <see cref="HeaderLimits"/> (one memoized tensor can be referenced from millions of keys).
    /// </remarks>
    private static void CollectTensors(object value, KeyPath? path, int depth, List<(string, TorchTensor)> found, HashSet<object> visited, HeaderBudget budget, LittleEndianFileReader reader)
    {
        if (value is TorchTensor tensor)
        {
            string name = path?.ToName(reader) ?? "";
            budget.AddTensor(name);
            found.Add((name, tensor));
            return;
        }

        if (value is not (PickleDict or List<object> or object[] or PickleObject))
        {
            return;
        }

        if (depth >= MaxNestingDepth)
        {
            throw reader.Bad($"data.pkl nests containers more than {MaxNestingDepth} deep");
        }

        // Each container is walked once: shared sub-structures (a pickle can reference one list from
        // many places, nested 60 deep) would otherwise take exponential time.
        if (!visited.Add(value))
        {
            return;
        }

        foreach (var (key, item) in Children(value))
        {
            if (IsCollected(item))
            {
                var childPath = key switch
                {
                    null => path,
                    string s => new KeyPath(path, s),
                    long n => new KeyPath(path, n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    int i => new KeyPath(path, i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    _ => new KeyPath(path, "?"),
                };
                CollectTensors(item, childPath, depth + 1, found, visited, budget, reader);
            }
        }
    }

    /// <summary>
    /// A container's items with the keys that name them (null: named as the container itself). An
    /// uninterpreted object's attribute dict (its BUILD state) and dict items are keyed by their own
    /// keys, so <c>{"args": Namespace(w=tensor)}</c> lists <c>args.w</c>; its call arguments by position.
    /// </summary>
    private static IEnumerable<(object? Key, object Value)> Children(object container)
    {
        switch (container)
        {
            case PickleDict dict:
                foreach (var (key, item) in dict.Items)
                {
                    yield return (key, item);
                }

                break;
            case List<object> list:
                for (int i = 0; i < list.Count; i++)
                {
                    yield return (i, list[i]);
                }

                break;
            case object[] tuple:
                for (int i = 0; i < tuple.Length; i++)
                {
                    yield return (i, tuple[i]);
                }

                break;
            case PickleObject made:
                yield return (null, made.Arguments);
                foreach (var state in made.States)
                {
                    // (dict state, slots state) pairs are how objects with __slots__ pickle theirs.
                    if (state is object[] { Length: 2 } pair && pair.All(p => p is PickleDict or PickleOpaque))
                    {
                        yield return (null, pair[0]);
                        yield return (null, pair[1]);
                    }
                    else
                    {
                        yield return (null, state);
                    }
                }

                yield return (null, made.Items);
                yield return (null, made.Appended);
                break;
        }
    }

    /// <summary>Whether a value may be or hold a tensor: only those get a key path (millions of plain numbers need none).</summary>
    private static bool IsCollected(object value) => value is TorchTensor or PickleDict or List<object> or object[] or PickleObject;

    /// <summary>A key path as a chain of keys sharing its parent's: "model.encoder.weight" is made only for a tensor.</summary>
    private sealed class KeyPath(KeyPath? parent, string key)
    {
        private readonly KeyPath? _parent = parent;
        private readonly string _key = key;

        /// <summary>Characters of the dotted path (no dot after an empty path, as torch's own key paths).</summary>
        private readonly long _length = parent is null || parent._length == 0 ? key.Length : parent._length + 1 + key.Length;

        /// <summary>The dotted path, refused before it is made when it is longer than a tensor name may be.</summary>
        public string ToName(LittleEndianFileReader reader)
        {
            // Each char is at least one UTF-8 byte: a longer path is over the cap whatever it holds.
            if (_length > HeaderLimits.MaxNameBytes)
            {
                var keys = new List<string>();
                for (var node = this; node is not null; node = node._parent)
                {
                    keys.Add(node._key);
                }

                keys.Reverse();
                throw reader.Bad($"tensor name '{HeaderLimits.Excerpt(string.Join('.', keys.Select(k => k.Length > 60 ? k[..60] : k)))}' is {_length} characters long, more than the limit of {HeaderLimits.MaxNameBytes} bytes");
            }

            return string.Create((int)_length, this, static (chars, path) =>
            {
                int at = chars.Length;
                for (var node = path; node is not null; node = node._parent)
                {
                    at -= node._key.Length;
                    node._key.CopyTo(chars[at..]);
                    if (node._parent is { _length: > 0 })
                    {
                        chars[--at] = '.';
                    }
                }
            });
        }
    }

    /// <summary>Reads a small zip member (stored or deflated) whole, refusing one larger than <paramref name="maxLength"/>.</summary>
    private static byte[] ReadMember(LittleEndianFileReader reader, ZipEntry entry, int maxLength)
    {
        if (entry.Length > maxLength || entry.CompressedLength > maxLength)
        {
            throw reader.Bad($"'{entry.Name}' is {entry.Length} bytes, more than the limit of {maxLength}");
        }

        if ((entry.Flags & 1) != 0)
        {
            throw reader.Bad($"'{entry.Name}' is encrypted");
        }

        byte[] compressed = new byte[entry.CompressedLength];
        reader.Seek(entry.DataOffset);
        reader.ReadExactly(compressed, $"'{entry.Name}'");
        switch (entry.Method)
        {
            case 0 when entry.IsStored:
                return compressed;
            case 8:
                byte[] result = new byte[entry.Length];
                try
                {
                    using var inflate = new DeflateStream(new MemoryStream(compressed), CompressionMode.Decompress);
                    inflate.ReadExactly(result);
                    if (inflate.ReadByte() != -1)
                    {
                        throw reader.Bad($"'{entry.Name}' inflates to more than its recorded {entry.Length} bytes");
                    }
                }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
                {
                    throw reader.Bad($"'{entry.Name}' does not inflate to its recorded {entry.Length} bytes");
                }

                return result;
            default:
                throw reader.Unsupported($"'{entry.Name}' uses zip compression method {entry.Method}, which is not supported");
        }
    }
}
