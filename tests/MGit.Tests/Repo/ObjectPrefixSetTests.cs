using MGit.Maintenance;
using MGit.Primitives;

namespace MGit.Tests.Repo;

/// <summary>The compact set gc and fsck mark live objects in: it must hold every id added, whatever the count, and no other.</summary>
public sealed class ObjectPrefixSetTests
{
    [Fact]
    public void It_holds_exactly_the_ids_added_through_growth_and_counts_each_once()
    {
        var set = new ObjectPrefixSet();
        var ids = Enumerable.Range(0, 50_000).Select(i => ObjectId.Compute(BitConverter.GetBytes(i))).ToList();
        foreach (var id in ids)
        {
            Assert.True(set.Add(id));
        }

        Assert.All(ids.Take(1000), id => Assert.False(set.Add(id)));
        Assert.Equal(ids.Count, set.Count);
        Assert.All(ids, id => Assert.True(set.Contains(id)));
        var others = Enumerable.Range(50_000, 50_000).Select(i => ObjectId.Compute(BitConverter.GetBytes(i)));
        Assert.DoesNotContain(others, set.Contains);
    }

    [Fact]
    public void An_id_whose_first_64_bits_are_zero_is_held_like_any_other()
    {
        var zero = ObjectId.FromBytes(new byte[ObjectId.ByteLength]);
        var set = new ObjectPrefixSet();
        Assert.False(set.Contains(zero));
        Assert.True(set.Add(zero));
        Assert.True(set.Contains(zero));
        Assert.False(set.Add(zero));
        Assert.Equal(1, set.Count);
    }
}
