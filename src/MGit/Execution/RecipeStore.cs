using MGit.Errors;
using MGit.Lineage;

namespace MGit.Execution;

/// <summary>Recipes by version, in the lineage database (schema 3).</summary>
internal sealed class RecipeStore(LineageStore store)
{
    private const int Schema = 3;

    public string? Get(ModelVersion version) =>
        !store.HasSchema(Schema) ? null : store.Read(transaction => (string?)store.Scalar("SELECT command FROM recipes WHERE version_id = $v", transaction, ("$v", version.Id)));

    /// <summary>Every recipe by version id (one read for planning a cascade).</summary>
    public IReadOnlyDictionary<long, string> All() => !store.HasSchema(Schema) ? new Dictionary<long, string>() : store.Read(transaction =>
    {
        var recipes = new Dictionary<long, string>();
        using var command = store.Command("SELECT version_id, command FROM recipes", transaction);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            recipes[reader.GetInt64(0)] = reader.GetString(1);
        }

        return recipes;
    });

    public void Set(ModelVersion version, string command) => store.Write(transaction =>
    {
        if (store.Scalar("SELECT 1 FROM versions WHERE id = $v", transaction, ("$v", version.Id)) is null)
        {
            throw new MGitException(ErrorKind.Conflict, $"{version.Ref} was removed meanwhile");
        }

        store.Execute("INSERT OR REPLACE INTO recipes (version_id, command) VALUES ($v, $c)", transaction, ("$v", version.Id), ("$c", command));
        return 0;
    });
}
