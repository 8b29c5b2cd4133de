using System.Globalization;
using MGit.Errors;
using MGit.Lineage;

namespace MGit.Cascade;

/// <summary>A recorded cascade step: the model, the version it started from, the version made (if any) and how it ended.</summary>
public sealed record CascadeRecordStep(string Model, string FromRef, string? ToRef, string Status, string? Detail);

/// <summary>A cascade as recorded, for <c>cascade --resume</c> and its history: the upstream change it followed and each step's state.</summary>
/// <param name="Id">The cascade's number in the lineage database.</param>
/// <param name="OldRef">The upstream version the cascade moved away from.</param>
/// <param name="NewRef">The new upstream version the descendants were re-derived on.</param>
/// <param name="StartedAt">When the cascade began.</param>
/// <param name="Steps">One step per affected model, in dependency order.</param>
public sealed record CascadeRecord(long Id, string OldRef, string NewRef, DateTimeOffset StartedAt, IReadOnlyList<CascadeRecordStep> Steps);

/// <summary>
/// Cascades and the state of each step, in the lineage database (schema 3), so <c>cascade --resume</c>
/// knows what was done and what is left after a recipe failed or the process was stopped.
/// </summary>
internal sealed class CascadeLog(LineageStore store)
{
    private const int Schema = 3;

    public long Start(string oldRef, string newRef, DateTimeOffset at, IEnumerable<CascadeRecordStep> steps) => store.Write(transaction =>
    {
        long id = (long)store.Scalar(
            "INSERT INTO cascades (old_ref, new_ref, started_at) VALUES ($o, $n, $a) RETURNING id",
            transaction,
            ("$o", oldRef),
            ("$n", newRef),
            ("$a", at.ToString("O", CultureInfo.InvariantCulture)))!;
        foreach (var step in steps)
        {
            store.Execute(
                "INSERT INTO cascade_steps (cascade_id, model, from_ref, to_ref, status, detail) VALUES ($c, $m, $f, $t, $s, $d)",
                transaction,
                ("$c", id),
                ("$m", step.Model),
                ("$f", step.FromRef),
                ("$t", step.ToRef),
                ("$s", step.Status),
                ("$d", step.Detail));
        }

        return id;
    });

    public void Update(long cascadeId, CascadeRecordStep step) => store.Write(transaction =>
    {
        store.Execute(
            "UPDATE cascade_steps SET to_ref = $t, status = $s, detail = $d WHERE cascade_id = $c AND model = $m",
            transaction,
            ("$c", cascadeId),
            ("$m", step.Model),
            ("$t", step.ToRef),
            ("$s", step.Status),
            ("$d", step.Detail));
        return 0;
    });

    /// <summary>The most recent cascade, or an error saying there is none.</summary>
    public CascadeRecord Latest() => Read(null);

    /// <summary>The cascade numbered <paramref name="id"/>, or an error saying there is none.</summary>
    public CascadeRecord Get(long id) => Read(id);

    private CascadeRecord Read(long? id)
    {
        string none = id is null ? "no cascade has run in this repository" : $"no cascade numbered {id} in this repository";
        if (!store.HasSchema(Schema))
        {
            throw new MGitException(ErrorKind.NotFound, none);
        }

        return store.Read(transaction =>
        {
            CascadeRecord? record = null;
            using (var command = id is null
                ? store.Command("SELECT id, old_ref, new_ref, started_at FROM cascades ORDER BY id DESC LIMIT 1", transaction)
                : store.Command("SELECT id, old_ref, new_ref, started_at FROM cascades WHERE id = $i", transaction, ("$i", id.Value)))
            using (var reader = command.ExecuteReader())
            {
                if (reader.Read())
                {
                    record = new CascadeRecord(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), DateTimeOffset.Parse(reader.GetString(3), CultureInfo.InvariantCulture), []);
                }
            }

            if (record is null)
            {
                throw new MGitException(ErrorKind.NotFound, none);
            }

            var steps = new List<CascadeRecordStep>();
            using (var command = store.Command("SELECT model, from_ref, to_ref, status, detail FROM cascade_steps WHERE cascade_id = $c ORDER BY rowid", transaction, ("$c", record.Id)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    steps.Add(new CascadeRecordStep(
                        reader.GetString(0),
                        reader.GetString(1),
                        reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.GetString(3),
                        reader.IsDBNull(4) ? null : reader.GetString(4)));
                }
            }

            return record with { Steps = steps };
        });
    }
}
