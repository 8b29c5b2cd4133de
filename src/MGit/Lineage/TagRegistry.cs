using System.Globalization;
using MGit.Errors;

namespace MGit.Lineage;

/// <summary>What <c>mgit tag REF NAME</c> did.</summary>
/// <param name="Tag">The tag as it stands now.</param>
/// <param name="PreviousTarget">The ref the tag pointed at before, or null when it was new (or deleted).</param>
/// <param name="Changed">False when the tag already pointed there (nothing was recorded).</param>
public sealed record TagChange(ModelTag Tag, string? PreviousTarget, bool Changed);

/// <summary>
/// Setting, moving, deleting tags and reading their history. Who made a change is the user
/// given (<c>MGIT_USER</c>, else <c>USER</c>); when, the clock's UTC time.
/// </summary>
internal sealed class TagRegistry(LineageStore store, Func<string> user, TimeProvider clock)
{
    private static readonly string[] UserVariables = ["MGIT_USER", "USER", "USERNAME"];

    /// <summary>A registry that names the user from the environment given: <c>MGIT_USER</c>, else <c>USER</c>, else <c>USERNAME</c>.</summary>
    public static TagRegistry Over(LineageStore store, Func<string, string?> environment, TimeProvider clock) =>
        new(store, UserOf(environment), clock);

    /// <summary>Who the user is, for every record of who changed what (tags, reparented edges): <c>MGIT_USER</c>, else <c>USER</c>, else <c>USERNAME</c>.</summary>
    public static Func<string> UserOf(Func<string, string?> environment) =>
        () => UserVariables.Select(environment).FirstOrDefault(u => !string.IsNullOrWhiteSpace(u))?.Trim() ?? "unknown";

    /// <summary>Points tag <paramref name="name"/> (<c>TAG</c>, or <c>MODEL@TAG</c> of the same model) at the version <paramref name="reference"/> names.</summary>
    public TagChange Set(string reference, string name, bool force)
    {
        // The version and the tagged ones, not the whole graph.
        var version = store.ReadResolved(ModelRef.Parse(reference));
        var tagged = store.ReadTagged();
        string tagName = name;
        int at = name.LastIndexOf('@');
        if (at >= 0)
        {
            if (name[..at] != version.Name)
            {
                throw new MGitException(ErrorKind.InvalidInput, $"tag '{name}' belongs to model '{name[..at]}', but {version.Ref} is a version of '{version.Name}' (a tag points at a version of its own model)");
            }

            tagName = name[(at + 1)..];
        }

        TagNames.Validate(tagName);
        var previous = tagged.Tags.FirstOrDefault(t => t.Model == version.Name && t.Name == tagName);
        bool changed = store.SetTag(version.Name, tagName, version.Id, version.Ref, VersionKeys.Of(version), user(), clock.GetUtcNow(), force);
        var now = store.ReadTagged().Tags.FirstOrDefault(t => t.Model == version.Name && t.Name == tagName)
            ?? throw new MGitException(ErrorKind.Conflict, $"tag {version.Name}@{tagName} was deleted meanwhile");
        return new TagChange(now, previous is null ? null : tagged.Versions.FirstOrDefault(v => v.Id == previous.VersionId)?.Ref, changed);
    }

    /// <summary>Deletes a tag (<c>MODEL@TAG</c>, or a bare <c>TAG</c> that only one model has).</summary>
    public ModelTag Delete(string tag)
    {
        var graph = store.ReadTagged();
        var (model, name) = Find(tag, graph.Tags.Select(t => (t.Model, t.Name)));
        var doomed = graph.Tags.FirstOrDefault(t => t.Model == model && t.Name == name)
            ?? throw new MGitException(ErrorKind.NotFound, $"model '{model}' has no tag '{name}'");
        store.DeleteTag(model, name, user(), clock.GetUtcNow());
        return doomed;
    }

    /// <summary>Deletes every tag on the versions given (a forced rm), recording who did it.</summary>
    public IReadOnlyList<ModelTag> DeleteOn(LineageGraph graph, IReadOnlySet<long> versionIds)
    {
        var doomed = graph.Tags.Where(t => versionIds.Contains(t.VersionId)).ToList();
        foreach (var tag in doomed)
        {
            store.DeleteTag(tag.Model, tag.Name, user(), clock.GetUtcNow());
        }

        return doomed;
    }

    /// <summary>Every change of a tag (also one deleted since), oldest first.</summary>
    public IReadOnlyList<TagMove> History(string tag)
    {
        var heads = store.ReadTagState().Heads;
        var (model, name) = Find(tag, heads.Select(h => (h.Model, h.Name)));
        var events = store.ReadTagEvents(model, name);
        if (events.Count == 0)
        {
            throw new MGitException(ErrorKind.NotFound, $"model '{model}' has no tag '{name}' and never had one");
        }

        var refs = store.ReadRefsByKey(events.Select(e => e.TargetKey).OfType<string>().ToHashSet(StringComparer.Ordinal));
        var byId = events.ToDictionary(e => e.Id, StringComparer.Ordinal);
        return events.Select(e => new TagMove(
            model,
            name,
            e.TargetKey is null ? null : refs.GetValueOrDefault(e.TargetKey) ?? e.TargetRef,
            e.MovedBy,
            DateTimeOffset.Parse(e.MovedAt, CultureInfo.InvariantCulture),
            e.TargetKey is null ? TagMoveKind.Deleted
            : e.Parents.Any(p => byId.TryGetValue(p, out var parent) && parent.TargetKey is not null) ? TagMoveKind.Moved
            : TagMoveKind.Created)).ToList();
    }

    /// <summary>The model and name a tag written as <c>MODEL@TAG</c> or as a bare <c>TAG</c> means, among the tags known.</summary>
    private static (string Model, string Name) Find(string tag, IEnumerable<(string Model, string Name)> known)
    {
        int at = tag.LastIndexOf('@');
        if (at >= 0)
        {
            ModelRef.ValidateName(tag[..at]);
            TagNames.Validate(tag[(at + 1)..]);
            return (tag[..at], tag[(at + 1)..]);
        }

        TagNames.Validate(tag);
        var models = known.Where(k => k.Name == tag).Select(k => k.Model).Distinct().Order(StringComparer.Ordinal).ToList();
        return models switch
        {
            [] => throw new MGitException(ErrorKind.NotFound, $"no tag named '{tag}'"),
            [var only] => (only, tag),
            _ => throw new MGitException(ErrorKind.InvalidInput, $"tag '{tag}' exists on several models ({string.Join(", ", models)}); write MODEL@{tag}"),
        };
    }
}
