using System.Globalization;
using MGit.Errors;

namespace MGit.Lineage;

/// <summary>
/// What <c>mgit reparent</c> changes: exactly one of <see cref="Parents"/> (the adapted parents
/// become exactly these), <see cref="Root"/> (no adapted parents) or <see cref="RemoveParents"/>
/// (these adapted edges go, the others stay). Versioned edges (<c>NAME@2</c> is the next version
/// of <c>NAME@1</c>) are never touched.
/// </summary>
public sealed record ReparentOptions
{
    /// <summary>The new adapted parents, as refs (<c>NAME</c>, <c>NAME@N</c>, <c>NAME@TAG</c>); several make a merge.</summary>
    public IReadOnlyList<string> Parents { get; init; } = [];

    /// <summary>Remove every adapted parent: the version becomes a root of its own line.</summary>
    public bool Root { get; init; }

    /// <summary>Adapted parents to remove, as refs; the other adapted parents stay as they are.</summary>
    public IReadOnlyList<string> RemoveParents { get; init; } = [];

    /// <summary>How the version was derived from the new parents (<see cref="DerivationKinds"/>); only with <see cref="Parents"/>. Null keeps the derivation an edge to the same parent had.</summary>
    public string? How { get; init; }

    /// <summary>Why the parents changed, kept in the edges' messages and the history.</summary>
    public string? Message { get; init; }
}

/// <summary>A change of a version's adapted parents: what <see cref="Repository.Reparent"/> did, or an entry of <see cref="Repository.ParentHistory"/>.</summary>
/// <param name="Ref">The version whose parents changed (its ref today, or as it was when the version is no longer held).</param>
/// <param name="Parents">Its adapted parents after the change.</param>
/// <param name="PreviousParents">Its adapted parents before the change.</param>
/// <param name="How">The derivation the new edges were given (null: not given).</param>
/// <param name="Message">The user's message (null: none).</param>
/// <param name="ChangedBy">Who changed them (<c>MGIT_USER</c>, else <c>USER</c>).</param>
/// <param name="ChangedAt">When (UTC).</param>
public sealed record ParentChange(string Ref, IReadOnlyList<string> Parents, IReadOnlyList<string> PreviousParents, string? How, string? Message, string ChangedBy, DateTimeOffset ChangedAt);

/// <summary>
/// Changing a version's adapted parents by hand, to fix an edge placement got wrong. The new
/// edges' message starts with <c>reparent by USER TIME</c>, never with the prefixes placement
/// marks its own edges with, so later placements (<c>add --auto</c>, <c>infer</c>) never move
/// them; each change is kept in the history (who, when, before and after), which travels with
/// push and pull so a clone that has the old edge takes the new one.
/// </summary>
internal sealed class ParentEditor(LineageStore store, Func<string> user, TimeProvider clock)
{
    /// <summary>The prefix of the message of every edge a reparent makes (placement's own edges start with "auto: " or "infer: ").</summary>
    public const string MessagePrefix = "reparent by ";

    public ParentChange Reparent(string reference, ReparentOptions options)
    {
        int modes = (options.Parents.Count > 0 ? 1 : 0) + (options.Root ? 1 : 0) + (options.RemoveParents.Count > 0 ? 1 : 0);
        if (modes != 1)
        {
            throw new MGitException(ErrorKind.InvalidInput, modes == 0
                ? "give the new parents (--parent P), --root, or --remove-parent P"
                : "give only one of --parent, --root and --remove-parent");
        }

        if (options.How is { } how)
        {
            if (options.Parents.Count == 0)
            {
                throw new MGitException(ErrorKind.InvalidInput, "--how describes a derivation; give the parents it was derived from with --parent");
            }

            if (!DerivationKinds.All.Contains(how))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"--how must be one of {string.Join(", ", DerivationKinds.All)}, not '{how}'");
            }
        }

        if (options.Message is { } m && m.Any(char.IsControl))
        {
            throw new MGitException(ErrorKind.InvalidInput, "the message must be one line (no control characters)");
        }

        // The child's model, the models named as parents, and everything below the child (where a cycle would close).
        var graph = store.ReadAround(
            [ModelRef.NameOf(reference), .. options.Parents.Concat(options.RemoveParents).Select(ModelRef.NameOf)],
            [],
            below: ModelRef.Parse(reference));
        var child = graph.Resolve(reference);
        var current = graph.ParentEdges(child, EdgeKind.Adapted);
        var kept = new List<(ModelVersion Parent, string? How)>();
        if (options.Parents.Count > 0)
        {
            foreach (string parentRef in options.Parents)
            {
                var parent = graph.Resolve(parentRef);
                if (parent.Id == child.Id)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{child.Ref} cannot be its own parent");
                }

                if (parent.Name == child.Name)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{parent.Ref} is a version of '{child.Name}' itself (versions are linked as versions, not as parents)");
                }

                if (kept.Any(k => k.Parent.Id == parent.Id))
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"parent {parent.Ref} is given twice");
                }

                if (CyclePath(graph, child, parent) is { } path)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{parent.Ref} derives from {child.Ref}: the edge would make a cycle ({path}); nothing was changed");
                }

                kept.Add((parent, options.How ?? current.FirstOrDefault(e => e.ParentId == parent.Id)?.How));
            }
        }
        else if (options.RemoveParents.Count > 0)
        {
            var doomed = new HashSet<long>();
            foreach (string parentRef in options.RemoveParents)
            {
                var parent = graph.Resolve(parentRef);
                if (!current.Any(e => e.ParentId == parent.Id))
                {
                    string parents = current.Count == 0 ? "it has none" : "its adapted parents: " + string.Join(", ", current.Select(e => graph[e.ParentId].Ref));
                    throw new MGitException(ErrorKind.NotFound, $"{parent.Ref} is not an adapted parent of {child.Ref} ({parents})");
                }

                doomed.Add(parent.Id);
            }

            kept.AddRange(current.Where(e => !doomed.Contains(e.ParentId)).Select(e => (graph[e.ParentId], e.How)));
        }

        string by = user();
        var at = clock.GetUtcNow();
        string edgeMessage = $"{MessagePrefix}{by} {at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture)}" + (options.Message is { Length: > 0 } note ? $": {note}" : "");
        var previous = store.SetAdaptedParents(
            child.Id,
            child.Ref,
            VersionKeys.Of(child),
            kept.Select(k => new NewParent(k.Parent.Id, k.Parent.Ref, VersionKeys.Of(k.Parent), k.How)).ToList(),
            edgeMessage,
            options.How,
            options.Message,
            by,
            at);
        return new ParentChange(child.Ref, kept.Select(k => k.Parent.Ref).ToList(), previous, options.How, options.Message, by, at);
    }

    /// <summary>Every change of the version's adapted parents, oldest first (also those a pull received).</summary>
    public IReadOnlyList<ParentChange> History(string reference)
    {
        var child = store.ReadResolved(ModelRef.Parse(reference));
        var events = store.ReadEdgeEvents(VersionKeys.Of(child));
        var refs = store.ReadRefsByKey(events.SelectMany(e => e.ParentKeys).ToHashSet(StringComparer.Ordinal));
        return events
            .Select(e => new ParentChange(
                child.Ref,
                e.ParentKeys.Select((key, i) => refs.GetValueOrDefault(key) ?? e.ParentRefs.ElementAtOrDefault(i) ?? key).ToList(),
                e.PreviousRefs,
                e.How,
                e.Message,
                e.ChangedBy,
                DateTimeOffset.Parse(e.ChangedAt, CultureInfo.InvariantCulture)))
            .ToList();
    }

    /// <summary>
    /// The cycle an edge from <paramref name="parent"/> to <paramref name="child"/> would close,
    /// as <c>child -&gt; ... -&gt; parent -&gt; child</c> (every edge, versioned ones too), or null
    /// when the parent does not derive from the child.
    /// </summary>
    internal static string? CyclePath(LineageGraph graph, ModelVersion child, ModelVersion parent)
    {
        var from = new Dictionary<long, long> { [child.Id] = child.Id };
        var queue = new Queue<ModelVersion>([child]);
        while (queue.TryDequeue(out var v))
        {
            if (v.Id == parent.Id)
            {
                var path = new List<string> { child.Ref };
                for (long at = v.Id; at != child.Id; at = from[at])
                {
                    path.Insert(1, graph[at].Ref);
                }

                path.Add(child.Ref);
                return string.Join(" -> ", path);
            }

            foreach (var next in graph.Children(v))
            {
                if (from.TryAdd(next.Id, v.Id))
                {
                    queue.Enqueue(next);
                }
            }
        }

        return null;
    }
}
