using MGit.Errors;
using MGit.Execution;

namespace MGit.Execution;

/// <summary>
/// How a model was derived, as a command the cascade can replay: a <see cref="CommandTemplate"/>
/// whose placeholders are <c>{parent}</c> (the single parent's path), <c>{parent:NAME}</c> (the
/// path of the parent named NAME), <c>{parents}</c> (every parent's path, one argument each, in
/// the order they were given) and <c>{output}</c> (where the recipe must write the new model: a
/// file or a folder, like the original).
/// </summary>
internal static class Recipe
{
    /// <summary>Parses a recipe and checks it against the model's parents (by name, in edge order).</summary>
    public static CommandTemplate Parse(string command, IReadOnlyList<string> parentNames)
    {
        ArgumentNullException.ThrowIfNull(parentNames);
        if (parentNames.Count == 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, "a recipe replays a derivation, so the model needs a parent (--parent)");
        }

        var template = CommandTemplate.Parse(command, "--recipe", name => name switch
        {
            "output" or "parents" => null,
            "parent" when parentNames.Count == 1 => null,
            "parent" => $"{{parent}} is ambiguous with {parentNames.Count} parents; use {{parent:NAME}} or {{parents}}",
            _ when name.StartsWith("parent:", StringComparison.Ordinal) =>
                parentNames.Contains(name["parent:".Length..]) ? null : $"{{{name}}} names no parent of this model (parents: {string.Join(", ", parentNames)})",
            _ => $"unknown placeholder {{{name}}}; a recipe can use {{parent}}, {{parent:NAME}}, {{parents}} and {{output}}",
        });
        if (!template.Placeholders.Contains("output"))
        {
            throw new MGitException(ErrorKind.InvalidInput, "--recipe must say where to write the model it makes: use {output}");
        }

        return template;
    }

    /// <summary>The argument list with parents' checked-out paths and the output path filled in.</summary>
    public static IReadOnlyList<string> Expand(string command, IReadOnlyList<(string Name, string Path)> parents, string output) =>
        Parse(command, parents.Select(p => p.Name).ToList()).Expand(name => name switch
        {
            "output" => [output],
            "parents" => parents.Select(p => p.Path).ToList(),
            "parent" => [parents.Single().Path],
            _ => [parents.First(p => p.Name == name["parent:".Length..]).Path],
        });
}
