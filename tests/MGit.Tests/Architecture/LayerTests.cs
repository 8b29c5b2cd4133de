using Mono.Cecil;
using Mono.Cecil.Cil;

namespace MGit.Tests.Architecture;

/// <summary>
/// The layers of the library, written down and enforced on its compiled IL (every signature,
/// attribute and instruction of every type, compiler-generated closures and state machines
/// counted for the type that holds them). The rules:
/// (a) every namespace of the library has a layer in <see cref="Layers"/>;
/// (b) a namespace uses only namespaces of its own layer or of lower layers, never a higher one;
/// (c) no cycle between namespaces, within a layer either (Cascade may use Testing, not the
///     reverse as well).
/// </summary>
public sealed class LayerTests
{
    private const string Here = "tests/MGit.Tests/Architecture/LayerTests.cs";

    /// <summary>
    /// Every namespace of the library by layer, lowest first. A new namespace goes into the lowest
    /// layer whose namespaces give it all it needs; one that no existing layer fits is a design
    /// question, not a line to add here.
    /// </summary>
    private static readonly (int Layer, string Name, string[] Namespaces)[] Layers =
    [
        (0, "primitives", ["MGit.Primitives", "MGit.Errors"]),
        (1, "formats",
        [
            "MGit.Formats",
            "MGit.Formats.Safetensors", "MGit.Formats.Gguf", "MGit.Formats.PyTorch", "MGit.Formats.Onnx", "MGit.Formats.Onnx.Proto",
            // The built-in formats listed together, and reading a folder's files: above every reader.
            "MGit.Formats.Catalog",
        ]),
        (2, "codecs", ["MGit.Codecs"]),
        (3, "storage", ["MGit.Storage"]),
        (4, "lineage", ["MGit.Lineage"]),
        // Running commands here, and handing them to a cluster scheduler (Slurm) as jobs.
        (5, "execution", ["MGit.Execution", "MGit.Scheduling"]),
        // The state every service of an open repository shares (paths, options, stores, lock).
        (6, "workspace", ["MGit.Workspace"]),
        // Features, each a layer of its own so that their order is a rule: one may use those
        // before it, never those after it (Ingest uses Testing for lossy checks, Cascade uses Ingest).
        (7, "diff and placement", ["MGit.Diff", "MGit.Diff.Evidence"]),
        (8, "checkout", ["MGit.Checkout"]),
        (9, "maintenance", ["MGit.Maintenance"]),
        (10, "testing", ["MGit.Testing"]),
        (11, "remotes", ["MGit.Remotes"]),
        (12, "ingest", ["MGit.Ingest"]),
        (13, "cascade", ["MGit.Cascade"]),
        (14, "facade", ["MGit"]),
        // Built on the facade like the CLI; moving to a project of its own.
        (15, "applications", ["MGit.Quickstart"]),
    ];

    /// <summary>
    /// Dependencies that break rule (b) or (c) today and are tolerated until they are fixed, as
    /// (from namespace, to namespace). Empty it, do not add to it: an entry that no longer occurs
    /// fails the test so that it is taken out.
    /// </summary>
    private static readonly (string From, string To)[] KnownExceptions = [];

    private static readonly Lazy<Dependencies> Library = new(() => Dependencies.Read(typeof(Repository).Assembly.Location));

    private static readonly Dictionary<string, (int Layer, string Name)> LayerOf =
        Layers.SelectMany(l => l.Namespaces.Select(ns => (ns, l))).ToDictionary(x => x.ns, x => (x.l.Layer, x.l.Name), StringComparer.Ordinal);

    private static string Describe(string ns) => LayerOf.TryGetValue(ns, out var layer) ? $"{ns} ({layer.Layer}, {layer.Name})" : ns;

    [Fact]
    public void The_table_names_each_namespace_once()
    {
        var all = Layers.SelectMany(l => l.Namespaces).ToList();
        Assert.Equal(all.Count, all.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(Enumerable.Range(0, Layers.Length), Layers.Select(l => l.Layer));
    }

    [Fact]
    public void Every_namespace_of_the_library_has_a_layer()
    {
        var library = Library.Value;
        var unknown = library.Namespaces.Where(ns => !LayerOf.ContainsKey(ns)).Order(StringComparer.Ordinal).ToList();
        Assert.True(unknown.Count == 0, string.Join(Environment.NewLine, unknown.Select(ns =>
            $"namespace {(ns.Length == 0 ? "(global)" : ns)} ({string.Join(", ", library.TypesIn(ns).Take(3))}) has no layer: add it to Layers in {Here}")));
    }

    [Fact]
    public void No_namespace_uses_a_higher_layer()
    {
        var problems = new List<string>();
        foreach (var ((from, to), examples) in Library.Value.Edges)
        {
            if (LayerOf.TryGetValue(from, out var a) && LayerOf.TryGetValue(to, out var b) && a.Layer < b.Layer && !KnownExceptions.Contains((from, to)))
            {
                problems.Add($"{Describe(from)} uses the higher {Describe(to)}: {string.Join("; ", examples.Take(3))}");
            }
        }

        problems.AddRange(StaleExceptions());
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Namespaces_form_no_cycle()
    {
        var edges = Library.Value.Edges;
        var graph = edges.Keys.Where(e => !KnownExceptions.Contains(e)).GroupBy(e => e.From, e => e.To).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var cycle in Cycles(graph))
        {
            var steps = cycle.Zip(cycle.Skip(1).Append(cycle[0]));
            problems.Add($"cycle {string.Join(" -> ", cycle.Append(cycle[0]))}: " +
                string.Join("; ", steps.Select(s => edges[(s.First, s.Second)].First())));
        }

        problems.AddRange(StaleExceptions());
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    private static IEnumerable<string> StaleExceptions() =>
        KnownExceptions.Where(e => !Library.Value.Edges.ContainsKey(e))
            .Select(e => $"{e.From} no longer uses {e.To}: take ({e.From}, {e.To}) out of KnownExceptions in {Here}");

    /// <summary>One cycle through every strongly connected group of two or more namespaces (Tarjan's algorithm).</summary>
    private static List<List<string>> Cycles(Dictionary<string, List<string>> graph)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var groups = new List<HashSet<string>>();

        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            onStack.Add(node);
            foreach (string next in graph.GetValueOrDefault(node) ?? [])
            {
                if (!index.TryGetValue(next, out int seen))
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
                else if (onStack.Contains(next))
                {
                    low[node] = Math.Min(low[node], seen);
                }
            }

            if (low[node] == index[node])
            {
                var group = new HashSet<string>(StringComparer.Ordinal);
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    group.Add(member);
                }
                while (member != node);

                if (group.Count > 1)
                {
                    groups.Add(group);
                }
            }
        }

        foreach (string node in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        // Within a group every member reaches every other: a shortest way back to the first member closes a cycle.
        return groups.Select(group =>
        {
            string start = group.Order(StringComparer.Ordinal).First();
            var cameFrom = new Dictionary<string, string>(StringComparer.Ordinal);
            var queue = new Queue<string>([start]);
            while (queue.Count > 0)
            {
                string node = queue.Dequeue();
                foreach (string next in (graph.GetValueOrDefault(node) ?? []).Where(group.Contains).Order(StringComparer.Ordinal))
                {
                    if (next == start)
                    {
                        var path = new List<string> { node };
                        while (path[^1] != start)
                        {
                            path.Add(cameFrom[path[^1]]);
                        }

                        path.Reverse();
                        return path;
                    }

                    if (cameFrom.TryAdd(next, node))
                    {
                        queue.Enqueue(next);
                    }
                }
            }

            throw new InvalidOperationException("a strongly connected group always has a cycle");
        }).ToList();
    }

    /// <summary>The namespaces of an assembly and which of them use which, with a few type pairs as examples.</summary>
    private sealed class Dependencies
    {
        private readonly Dictionary<string, List<string>> _types = new(StringComparer.Ordinal);

        public IReadOnlyCollection<string> Namespaces => _types.Keys;

        public Dictionary<(string From, string To), SortedSet<string>> Edges { get; } = [];

        public List<string> TypesIn(string ns) => _types[ns];

        public static Dependencies Read(string path)
        {
            using var assembly = AssemblyDefinition.ReadAssembly(path);
            var result = new Dependencies();
            var module = assembly.MainModule;
            var types = module.GetTypes().Where(t => !IsCompilerEmitted(t)).ToList();
            foreach (var type in types.Where(t => t.DeclaringType is null))
            {
                if (!result._types.TryGetValue(type.Namespace, out var names))
                {
                    result._types[type.Namespace] = names = [];
                }

                names.Add(type.FullName);
            }

            foreach (var type in types)
            {
                var from = Outermost(type);
                new Collector(result, from, module).Type(type);
            }

            return result;
        }

        /// <summary>
        /// Types the compiler and source generators add on their own, which belong to no one's
        /// namespace: the module type and other &lt;names&gt;, embedded attributes, generated code
        /// outside the library's namespaces.
        /// </summary>
        private static bool IsCompilerEmitted(TypeDefinition type)
        {
            while (type.DeclaringType is not null)
            {
                type = type.DeclaringType;
            }

            bool ours = type.Namespace == "MGit" || type.Namespace.StartsWith("MGit.", StringComparison.Ordinal);
            return type.Name.StartsWith('<') || type.CustomAttributes.Any(a =>
                a.AttributeType.FullName == "Microsoft.CodeAnalysis.EmbeddedAttribute" ||
                (!ours && a.AttributeType.FullName == "System.CodeDom.Compiler.GeneratedCodeAttribute"));
        }

        private static TypeReference Outermost(TypeReference type)
        {
            while (type.DeclaringType is not null)
            {
                type = type.DeclaringType;
            }

            return type;
        }

        private void Add(TypeReference from, TypeReference to)
        {
            string a = from.Namespace;
            string b = Outermost(to).Namespace;
            if (a == b || !_types.ContainsKey(b))
            {
                return;
            }

            if (!Edges.TryGetValue((a, b), out var examples))
            {
                Edges[(a, b)] = examples = new SortedSet<string>(StringComparer.Ordinal);
            }

            examples.Add($"{from.FullName} -> {Outermost(to).FullName}");
        }

        /// <summary>Walks one type's signatures, attributes and IL, reporting every type it names.</summary>
        private sealed class Collector(Dependencies into, TypeReference owner, ModuleDefinition module)
        {
            private void Reference(TypeReference? type)
            {
                switch (type)
                {
                    case null or GenericParameter:
                        return;
                    case GenericInstanceType generic:
                        foreach (var argument in generic.GenericArguments)
                        {
                            Reference(argument);
                        }

                        Reference(generic.ElementType);
                        return;
                    case IModifierType modified:
                        Reference(modified.ModifierType);
                        Reference(modified.ElementType);
                        return;
                    case FunctionPointerType pointer:
                        Reference(pointer.ReturnType);
                        foreach (var parameter in pointer.Parameters)
                        {
                            Reference(parameter.ParameterType);
                        }

                        return;
                    case TypeSpecification specification:
                        Reference(specification.ElementType);
                        return;
                }

                if (type.Scope == module || type.Module == module && type is TypeDefinition)
                {
                    into.Add(owner, type);
                }
            }

            private void Attributes(ICustomAttributeProvider provider)
            {
                if (!provider.HasCustomAttributes)
                {
                    return;
                }

                foreach (var attribute in provider.CustomAttributes)
                {
                    Reference(attribute.AttributeType);
                    foreach (var argument in attribute.ConstructorArguments.Concat(attribute.Fields.Concat(attribute.Properties).Select(n => n.Argument)))
                    {
                        Reference(argument.Type);
                        Reference(argument.Value as TypeReference);
                    }
                }
            }

            private void GenericParameters(IGenericParameterProvider provider)
            {
                foreach (var parameter in provider.GenericParameters)
                {
                    Attributes(parameter);
                    foreach (var constraint in parameter.Constraints)
                    {
                        Reference(constraint.ConstraintType);
                    }
                }
            }

            private void Method(MethodReference method)
            {
                Reference(method.DeclaringType);
                Reference(method.ReturnType);
                foreach (var parameter in method.Parameters)
                {
                    Reference(parameter.ParameterType);
                }

                if (method is GenericInstanceMethod generic)
                {
                    foreach (var argument in generic.GenericArguments)
                    {
                        Reference(argument);
                    }
                }
            }

            public void Type(TypeDefinition type)
            {
                Reference(type.BaseType);
                Attributes(type);
                GenericParameters(type);
                foreach (var implemented in type.Interfaces)
                {
                    Reference(implemented.InterfaceType);
                    Attributes(implemented);
                }

                foreach (var field in type.Fields)
                {
                    Reference(field.FieldType);
                    Attributes(field);
                }

                foreach (var property in type.Properties)
                {
                    Reference(property.PropertyType);
                    Attributes(property);
                }

                foreach (var @event in type.Events)
                {
                    Reference(@event.EventType);
                    Attributes(@event);
                }

                foreach (var method in type.Methods)
                {
                    Method(method);
                    Attributes(method);
                    Attributes(method.MethodReturnType);
                    GenericParameters(method);
                    foreach (var parameter in method.Parameters)
                    {
                        Attributes(parameter);
                    }

                    foreach (var overridden in method.Overrides)
                    {
                        Method(overridden);
                    }

                    if (method.HasBody)
                    {
                        Body(method.Body);
                    }
                }
            }

            private void Body(MethodBody body)
            {
                foreach (var variable in body.Variables)
                {
                    Reference(variable.VariableType);
                }

                foreach (var handler in body.ExceptionHandlers)
                {
                    Reference(handler.CatchType);
                }

                foreach (var instruction in body.Instructions)
                {
                    switch (instruction.Operand)
                    {
                        case TypeReference type:
                            Reference(type);
                            break;
                        case MethodReference method:
                            Method(method);
                            break;
                        case FieldReference field:
                            Reference(field.DeclaringType);
                            Reference(field.FieldType);
                            break;
                        case CallSite site:
                            Reference(site.ReturnType);
                            foreach (var parameter in site.Parameters)
                            {
                                Reference(parameter.ParameterType);
                            }

                            break;
                    }
                }
            }
        }
    }
}
