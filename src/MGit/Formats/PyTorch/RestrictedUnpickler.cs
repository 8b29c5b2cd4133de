using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MGit.Formats.PyTorch;

/// <summary>A torch storage as the pickle names it: zip entry key, element type and element count.</summary>
internal sealed record TorchStorage(string Key, TorchDtype Dtype, long ElementCount)
{
    public long ByteLength => checked(ElementCount * Dtype.Size);
}

/// <summary>A torch element type: the dtype name MGit shows (safetensors names) and its size in bytes.</summary>
internal sealed record TorchDtype(string Name, int Size)
{
    public ElementLayout Layout { get; } = ElementLayout.Scalar(Size);
}

/// <summary>A tensor as <c>_rebuild_tensor_v2/v3</c> describes it: a strided view into a storage.</summary>
internal sealed record TorchTensor(TorchStorage Storage, TorchDtype Dtype, long StorageOffset, long[] Shape, long[] Stride);

/// <summary>A dict (or OrderedDict) from the pickle, in insertion order.</summary>
internal sealed class PickleDict
{
    public List<KeyValuePair<object, object>> Items { get; } = [];
}

/// <summary>
/// A global as pushed by GLOBAL/STACK_GLOBAL: inert. A known one is applied by
/// <see cref="RestrictedUnpickler"/>'s own code; any other (<see cref="Interpreted"/> false) is only
/// a name, and applying it makes a <see cref="PickleObject"/>.
/// </summary>
internal sealed record PickleGlobal(string Module, string Name, bool Interpreted = true)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>
/// What applying a global MGit does not interpret would have made (an argparse.Namespace, a numpy
/// scalar, a trainer's state): never built, only the arguments, state and items the pickle gave
/// it, kept so the tensors inside are still found.
/// </summary>
internal sealed class PickleObject(string global, object arguments)
{
    public string Global { get; } = global;

    public object Arguments { get; } = arguments;

    /// <summary>BUILD states, in order (an object's attribute dict, a numpy array's raw data).</summary>
    public List<object> States { get; } = [];

    /// <summary>Items set on it as on a dict (a dict subclass such as defaultdict).</summary>
    public PickleDict Items { get; } = new();

    /// <summary>Items appended to it as to a list or set (a list or set subclass).</summary>
    public List<object> Appended { get; } = [];
}

/// <summary>A value of no interest to MGit (a torch.device, Python None): kept only so the structure stays intact.</summary>
internal sealed record PickleOpaque(string What);

/// <summary>
/// A pickle reader that never executes anything: it interprets the opcodes itself and knows only
/// the handful of globals that PyTorch state dicts use (OrderedDict, the tensor rebuild functions,
/// storage classes, dtypes, devices), evaluated by this class's own code. Any other global
/// (argparse.Namespace, numpy scalars, a trainer's classes) is recorded by name as not interpreted
/// and applying it yields a <see cref="PickleObject"/> whose arguments are kept, so the tensors of
/// a whole training checkpoint are found without building anything. Nothing is ever looked up by
/// name or invoked. Globals whose only use in a pickle is to run code or reach the system when
/// torch.load unpickles the file (os.system, builtins.eval, ...) refuse it.
/// </summary>
internal sealed class RestrictedUnpickler
{
    private static readonly Dictionary<string, TorchDtype> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = new("F32", 4),
        ["DoubleStorage"] = new("F64", 8),
        ["HalfStorage"] = new("F16", 2),
        ["BFloat16Storage"] = new("BF16", 2),
        ["LongStorage"] = new("I64", 8),
        ["IntStorage"] = new("I32", 4),
        ["ShortStorage"] = new("I16", 2),
        ["CharStorage"] = new("I8", 1),
        ["ByteStorage"] = new("U8", 1),
        ["BoolStorage"] = new("BOOL", 1),
        ["ComplexFloatStorage"] = new("C64", 8),
        ["ComplexDoubleStorage"] = new("C128", 16),
        ["UntypedStorage"] = new("U8", 1),
    };

    private static readonly Dictionary<string, TorchDtype> Dtypes = new(StringComparer.Ordinal)
    {
        ["float32"] = new("F32", 4),
        ["float"] = new("F32", 4),
        ["float64"] = new("F64", 8),
        ["double"] = new("F64", 8),
        ["float16"] = new("F16", 2),
        ["half"] = new("F16", 2),
        ["bfloat16"] = new("BF16", 2),
        ["int64"] = new("I64", 8),
        ["long"] = new("I64", 8),
        ["int32"] = new("I32", 4),
        ["int"] = new("I32", 4),
        ["int16"] = new("I16", 2),
        ["short"] = new("I16", 2),
        ["int8"] = new("I8", 1),
        ["uint8"] = new("U8", 1),
        ["uint16"] = new("U16", 2),
        ["uint32"] = new("U32", 4),
        ["uint64"] = new("U64", 8),
        ["bool"] = new("BOOL", 1),
        ["complex64"] = new("C64", 8),
        ["complex128"] = new("C128", 16),
        ["float8_e4m3fn"] = new("F8_E4M3", 1),
        ["float8_e5m2"] = new("F8_E5M2", 1),
        ["float8_e8m0fnu"] = new("F8_E8M0", 1),
    };

    private static readonly HashSet<string> AllowedFunctions = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
        "torch.device",
        "torch.Size",
        "_codecs.encode",
        // Types that _rebuild_from_type_v2 names: markers only.
        "torch.Tensor",
        "torch._tensor.Tensor",
        "torch.nn.parameter.Parameter",
    };

    /// <summary>
    /// Modules (and their submodules) whose globals run code or reach the system when unpickled;
    /// none belongs in a checkpoint. Python 2 names are here too: protocol 2 writes
    /// subprocess.getoutput as commands.getoutput.
    /// </summary>
    private static readonly string[] RefusedModules =
    [
        "os", "posix", "nt", "subprocess", "commands", "popen2", "_posixsubprocess", "sys", "socket", "shutil", "runpy", "importlib", "imp", "zipimport", "pkgutil",
        "ctypes", "_ctypes", "marshal", "pickle", "_pickle", "dill", "cloudpickle", "code", "codeop", "pty", "webbrowser", "multiprocessing",
        "signal", "asyncio", "threading", "_thread", "pdb", "bdb", "timeit", "trace", "profile", "cProfile", "platform", "tempfile", "glob",
        "io", "_io", "pathlib", "urllib", "http", "ftplib", "smtplib", "telnetlib", "requests", "site", "pip", "setuptools", "distutils",
        "torch.hub", "torch.serialization", "numpy.testing",
    ];

    /// <summary>Single globals that load or call arbitrary things.</summary>
    private static readonly HashSet<string> RefusedGlobals = new(StringComparer.Ordinal)
    {
        "torch.load", "torch.jit.load", "numpy.load", "operator.attrgetter", "operator.methodcaller", "functools.reduce",
    };

    /// <summary>The builtins that only make plain values; every other builtin (eval, exec, getattr, __import__, open, ...) refuses the file.</summary>
    private static readonly HashSet<string> PlainBuiltins = new(StringComparer.Ordinal)
    {
        "set", "frozenset", "slice", "complex", "bytearray", "bytes", "int", "float", "str", "list", "tuple", "dict", "object", "range", "bool",
    };

    /// <summary>At most this many distinct uninterpreted globals are listed (a hostile pickle could name millions).</summary>
    private const int MaxUninterpreted = 256;

    /// <summary>Containers and stack together may not hold more items than this: a small pickle cannot make us hold a huge graph.</summary>
    private const int MaxItems = 5_000_000;
    private const int MaxLineLength = 512;

    private static readonly object Mark = new();
    private static readonly PickleOpaque None = new("None");

    private readonly byte[] _data;
    private readonly Func<string, Exception> _bad;
    private readonly List<object> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object> _memo = [];
    private readonly SortedSet<string> _uninterpreted = new(StringComparer.Ordinal);
    private int _position;
    private long _items;
    private bool _moreUninterpreted;

    private RestrictedUnpickler(byte[] data, Func<string, Exception> bad)
    {
        _data = data;
        _bad = bad;
    }

    /// <summary>Interprets a whole pickle: its root object, and the names of the globals it refers to that were not interpreted (sorted; "…" last when there were more than are listed).</summary>
    public static (object Root, IReadOnlyList<string> Uninterpreted) Read(byte[] pickle, Func<string, Exception> bad)
    {
        var unpickler = new RestrictedUnpickler(pickle, bad);
        object root = unpickler.Run();
        List<string> names = [.. unpickler._uninterpreted];
        if (unpickler._moreUninterpreted)
        {
            names.Add("…");
        }

        return (root, names);
    }

    private object Run()
    {
        while (true)
        {
            if (_position >= _data.Length)
            {
                throw _bad("data.pkl ends before its STOP opcode");
            }

            int at = _position;
            byte op = _data[_position++];
            switch (op)
            {
                case 0x80: ReadBytes(1); break; // PROTO
                case 0x95: ReadBytes(8); break; // FRAME: framing is only a read-ahead hint
                case (byte)'.': // STOP
                    if (_stack.Count != 1 || _marks.Count != 0)
                    {
                        throw _bad("data.pkl stops with an unbalanced stack");
                    }

                    return _stack[0];
                case (byte)'(': _marks.Push(_stack.Count); break; // MARK
                case (byte)')': Push(Array.Empty<object>()); break; // EMPTY_TUPLE
                case (byte)']': Push(new List<object>()); break; // EMPTY_LIST
                case (byte)'}': Push(new PickleDict()); break; // EMPTY_DICT
                case 0x8F: Push(new List<object>()); break; // EMPTY_SET (kept as a list)
                case 0x90: AppendsTo(PopToMark()); break; // ADDITEMS
                case 0x91: Push(PopToMark().ToList()); break; // FROZENSET
                case (byte)'t': Push(PopToMark().ToArray()); break; // TUPLE
                case 0x85: Push(new[] { Pop() }); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'l': Push(PopToMark().ToList()); break; // LIST
                case (byte)'d': Push(DictFrom(PopToMark())); break; // DICT
                case (byte)'a': { var item = Pop(); AppendsTo([item]); break; } // APPEND
                case (byte)'e': AppendsTo(PopToMark()); break; // APPENDS
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems([k, v]); break; } // SETITEM
                case (byte)'u': SetItems(PopToMark()); break; // SETITEMS
                case (byte)'N': Push(None); break;
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break; // BININT
                case (byte)'K': Push((long)ReadBytes(1)[0]); break; // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
                case 0x8A: Push(ReadLong(ReadBytes(1)[0])); break; // LONG1
                case 0x8B: Push(ReadLong(ReadLength(4))); break; // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break; // BINFLOAT
                case (byte)'X': Push(ReadText(ReadLength(4))); break; // BINUNICODE
                case 0x8C: Push(ReadText(ReadBytes(1)[0])); break; // SHORT_BINUNICODE
                case 0x8D: Push(ReadText(ReadLength(8))); break; // BINUNICODE8
                case (byte)'T': Push(Encoding.Latin1.GetString(ReadBytes(ReadLength(4)))); break; // BINSTRING
                case (byte)'U': Push(Encoding.Latin1.GetString(ReadBytes(ReadBytes(1)[0]))); break; // SHORT_BINSTRING
                case (byte)'B': Push(ReadBytes(ReadLength(4)).ToArray()); break; // BINBYTES
                case (byte)'C': Push(ReadBytes(ReadBytes(1)[0]).ToArray()); break; // SHORT_BINBYTES
                case 0x8E: Push(ReadBytes(ReadLength(8)).ToArray()); break; // BINBYTES8
                case 0x96: Push(ReadBytes(ReadLength(8)).ToArray()); break; // BYTEARRAY8
                case (byte)'q': _memo[ReadBytes(1)[0]] = Peek(); break; // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                case (byte)'p': _memo[ParseLong(ReadLine())] = Peek(); break; // PUT
                case (byte)'h': Push(Recall(ReadBytes(1)[0])); break; // BINGET
                case (byte)'j': Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET
                case (byte)'g': Push(Recall(ParseLong(ReadLine()))); break; // GET
                case (byte)'c': { string module = ReadLine(); Push(Global(module, ReadLine())); break; } // GLOBAL
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop() as string;
                        var module = Pop() as string;
                        if (module is null || name is null)
                        {
                            throw _bad("data.pkl has a STACK_GLOBAL whose module or name is not a string");
                        }

                        Push(Global(module, name));
                        break;
                    }

                case (byte)'R': { var args = Pop(); var callable = Pop(); Push(Reduce(callable, args)); break; } // REDUCE
                case 0x81: { var args = Pop(); var cls = Pop(); Push(Reduce(cls, args)); break; } // NEWOBJ
                case 0x92: { var kwargs = Pop(); var args = Pop(); var cls = Pop(); Push(Reduce(cls, new[] { args, kwargs })); break; } // NEWOBJ_EX
                case (byte)'b': { var state = Pop(); Build(Peek(), state); break; } // BUILD
                case (byte)'Q': Push(PersistentLoad(Pop())); break; // BINPERSID
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopToMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP
                case (byte)'I': Push(ParseIntLine(ReadLine())); break; // INT
                case (byte)'L': Push(ParseLong(ReadLine().TrimEnd('L'))); break; // LONG
                case (byte)'F': Push(double.TryParse(ReadLine(), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) ? f : throw _bad("data.pkl has an invalid float")); break; // FLOAT
                default:
                    // INST, OBJ, EXT*, out-of-band buffers and the text string forms: never used by torch.save.
                    throw _bad($"data.pkl uses pickle opcode 0x{op:x2} at offset {at}, which a PyTorch state dict never needs; refusing it");
            }
        }
    }

    private PickleGlobal Global(string module, string name)
    {
        string full = $"{module}.{name}";
        if ((module == "torch" && (StorageTypes.ContainsKey(name) || Dtypes.ContainsKey(name))) || AllowedFunctions.Contains(full))
        {
            return new PickleGlobal(module, name);
        }

        if (IsRefused(module, name))
        {
            throw new ForeignPickleException(Printable(full));
        }

        // Listed to users comma-separated: a crafted name cannot add entries or lines.
        string listed = Printable(full).Replace(',', '?').Replace(' ', '?');
        if (_uninterpreted.Count < MaxUninterpreted)
        {
            _uninterpreted.Add(listed);
        }
        else if (!_uninterpreted.Contains(listed))
        {
            _moreUninterpreted = true;
        }

        return new PickleGlobal(module, name, Interpreted: false);
    }

    private static bool IsRefused(string module, string name)
    {
        if (module is "builtins" or "__builtin__")
        {
            return !PlainBuiltins.Contains(name);
        }

        return RefusedGlobals.Contains($"{module}.{name}")
            || RefusedModules.Any(m => module == m || (module.StartsWith(m, StringComparison.Ordinal) && module[m.Length] == '.'));
    }

    /// <summary>What an allowed callable would produce, computed here from its arguments; an uninterpreted one gives an opaque object that keeps them.</summary>
    private object Reduce(object callable, object args)
    {
        switch (callable)
        {
            case PickleGlobal { Interpreted: false } unknown:
                return new PickleObject(Printable(unknown.FullName), args);
            case PickleObject made:
                // Calling what an uninterpreted call returned (a factory's product): just as opaque.
                return new PickleObject(made.Global, new[] { made, args });
        }

        if (callable is not PickleGlobal global || args is not object[] a)
        {
            throw _bad("data.pkl applies something other than an allowed function");
        }

        switch (global.FullName)
        {
            case "collections.OrderedDict":
                return a.Length == 0 ? new PickleDict() : a is [List<object> pairs] ? DictFrom(pairs.SelectMany(PairOf).ToList()) : throw _bad("data.pkl builds an OrderedDict from unexpected arguments");
            case "torch._utils._rebuild_tensor_v2" when a.Length is 6 or 7:
                return Tensor(a[0], a[1], a[2], a[3], dtype: null);
            case "torch._utils._rebuild_tensor_v3" when a.Length is 7 or 8:
                return Tensor(a[0], a[1], a[2], a[3], a[6] is PickleGlobal g && g.Module == "torch" && Dtypes.TryGetValue(g.Name, out var d) ? d : throw _bad("data.pkl rebuilds a tensor with an unknown dtype"));
            case "torch._utils._rebuild_parameter" or "torch._utils._rebuild_parameter_with_state" when a.Length >= 1 && a[0] is TorchTensor parameter:
                return parameter;
            case "torch._tensor._rebuild_from_type_v2" when a.Length == 4 && a[2] is object[] innerArgs:
                return Reduce(a[0], innerArgs);
            case "torch.device":
                return new PickleOpaque("device");
            case "torch.Size" when a is [object[] dims]:
                return dims;
            case "_codecs.encode" when a is [string text, string encoding] && encoding is "latin1" or "latin-1":
                return Encoding.Latin1.GetBytes(text);
            default:
                throw _bad($"data.pkl calls '{Printable(global.FullName)}' with unexpected arguments; refusing it");
        }
    }

    private TorchTensor Tensor(object storage, object offset, object size, object stride, TorchDtype? dtype)
    {
        if (storage is not TorchStorage s || offset is not long storageOffset || storageOffset < 0)
        {
            throw _bad("data.pkl rebuilds a tensor without a storage and a non-negative offset");
        }

        return new TorchTensor(s, dtype ?? s.Dtype, storageOffset, Dimensions(size, "size"), Dimensions(stride, "stride"));
    }

    private long[] Dimensions(object value, string what)
    {
        if (value is not object[] items || items.Length > 64)
        {
            throw _bad($"data.pkl rebuilds a tensor whose {what} is not a tuple of at most 64 integers");
        }

        var result = new long[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            result[i] = items[i] is long n && n >= 0 ? n : throw _bad($"data.pkl rebuilds a tensor with an invalid {what}");
        }

        return result;
    }

    /// <summary>torch.save's persistent ids: ('storage', storage type, key, location, element count).</summary>
    private TorchStorage PersistentLoad(object pid)
    {
        if (pid is not object[] { Length: 5 } t || t[0] is not "storage" || t[1] is not PickleGlobal type || t[2] is not string key || t[4] is not long count || count < 0)
        {
            throw _bad("data.pkl has a persistent id that is not a torch storage");
        }

        if (type.Module != "torch" || !StorageTypes.TryGetValue(type.Name, out var dtype))
        {
            throw _bad($"data.pkl uses unknown storage type '{Printable(type.FullName)}'");
        }

        if (key.Length is 0 or > 64 || key.Contains('/') || key.Contains('\\'))
        {
            throw _bad("data.pkl names a storage with an invalid key");
        }

        if (count > long.MaxValue / dtype.Size)
        {
            throw _bad($"storage '{key}' has an element count that overflows");
        }

        return new TorchStorage(key, dtype, count);
    }

    /// <summary>
    /// State set on a dict (a state dict's _metadata) or a tensor (Parameter state) changes no tensor
    /// bytes: it is ignored. State set on an uninterpreted object is kept: it may hold tensors.
    /// </summary>
    private void Build(object target, object state)
    {
        switch (target)
        {
            case PickleObject made:
                Count(1);
                made.States.Add(state);
                break;
            case PickleDict or TorchTensor:
                break;
            default:
                throw _bad("data.pkl sets state on an object that is not a dict, a tensor or an object it made");
        }
    }

    private void AppendsTo(List<object> items)
    {
        var list = Peek() switch
        {
            List<object> l => l,
            PickleObject made => made.Appended,
            _ => throw _bad("data.pkl appends to something that is not a list"),
        };

        Count(items.Count);
        list.AddRange(items);
    }

    private void SetItems(List<object> keysAndValues)
    {
        var dict = Peek() switch
        {
            PickleDict d => d,
            PickleObject made => made.Items,
            _ => null,
        };
        if (dict is null || keysAndValues.Count % 2 != 0)
        {
            throw _bad("data.pkl sets items on something that is not a dict");
        }

        Count(keysAndValues.Count / 2);
        for (int i = 0; i < keysAndValues.Count; i += 2)
        {
            dict.Items.Add(new(keysAndValues[i], keysAndValues[i + 1]));
        }
    }

    private PickleDict DictFrom(List<object> keysAndValues)
    {
        Push(new PickleDict());
        SetItems(keysAndValues);
        return (PickleDict)Pop();
    }

    private IEnumerable<object> PairOf(object pair) =>
        pair is object[] { Length: 2 } p ? p : throw _bad("data.pkl builds an OrderedDict from something other than pairs");

    private void Push(object value)
    {
        Count(1);
        _stack.Add(value);
    }

    private void Count(long items)
    {
        _items += items;
        if (_items > MaxItems)
        {
            throw _bad($"data.pkl holds more than {MaxItems} items");
        }
    }

    private object Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks.Peek() == _stack.Count))
        {
            throw _bad($"data.pkl pops from an empty stack at offset {_position - 1}");
        }

        var value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object Peek() => _stack.Count > 0 && (_marks.Count == 0 || _marks.Peek() < _stack.Count) ? _stack[^1] : throw _bad($"data.pkl reads an empty stack at offset {_position - 1}");

    private List<object> PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw _bad($"data.pkl has no MARK for the opcode at offset {_position - 1}");
        }

        int mark = _marks.Pop();
        var items = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private object Recall(long index) => _memo.TryGetValue(index, out var value) ? value : throw _bad($"data.pkl recalls memo entry {index}, which was never stored");

    private ReadOnlySpan<byte> ReadBytes(long count)
    {
        if (count < 0 || count > _data.Length - _position)
        {
            throw _bad($"data.pkl is truncated at offset {_position} (needs {count} more bytes)");
        }

        var span = _data.AsSpan(_position, (int)count);
        _position += (int)count;
        return span;
    }

    private long ReadLength(int width)
    {
        var bytes = ReadBytes(width);
        long length = width == 4 ? BinaryPrimitives.ReadInt32LittleEndian(bytes) : (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(bytes), long.MaxValue);
        return length >= 0 ? length : throw _bad($"data.pkl has a negative length at offset {_position - width}");
    }

    private object ReadLong(long byteCount)
    {
        var bytes = ReadBytes(byteCount);
        if (bytes.Length > 8)
        {
            // Larger integers mean nothing to a tensor layout; keep them as opaque values.
            return new PickleOpaque("big integer");
        }

        long value = 0;
        for (int i = bytes.Length - 1; i >= 0; i--)
        {
            value = (value << 8) | bytes[i];
        }

        if (bytes.Length is > 0 and < 8 && (bytes[^1] & 0x80) != 0)
        {
            value -= 1L << (8 * bytes.Length);
        }

        return value;
    }

    private string ReadText(long length) => Encoding.UTF8.GetString(ReadBytes(length));

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _position, Math.Min(MaxLineLength, _data.Length - _position));
        if (end < 0)
        {
            throw _bad($"data.pkl has an unterminated text field at offset {_position}");
        }

        string line = Encoding.ASCII.GetString(_data, _position, end - _position);
        _position = end + 1;
        return line;
    }

    private long ParseLong(string text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) ? value : throw _bad($"data.pkl has an invalid integer '{Printable(text)}'");

    private object ParseIntLine(string text) => text switch
    {
        "00" => false,
        "01" => true,
        _ => ParseLong(text),
    };

    private static string Printable(string text)
    {
        var clean = new string(text.Select(c => char.IsControl(c) ? '?' : c).Take(80).ToArray());
        return clean.Length < text.Length ? clean + "…" : clean;
    }
}

/// <summary>
/// A torch.save archive whose pickle names a global that runs code or reaches the system when
/// torch.load unpickles it (os.system, builtins.eval, ...): refused when the file is named as a
/// checkpoint, kept as an opaque blob otherwise.
/// </summary>
internal sealed class ForeignPickleException(string global) : Exception($"data.pkl refers to '{global}', which would run code or reach the system when torch.load unpickles it; refusing it (the pickle is never executed)")
{
    public string Global { get; } = global;
}
