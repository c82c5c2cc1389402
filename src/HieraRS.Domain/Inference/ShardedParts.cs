namespace HieraRS.Domain.Inference;

/// <summary>
/// A scene's parts shared among workers (<see cref="PredictOptions.Shard"/>): which parts this run
/// computes, and the final step, taken by whichever worker finds every part written once it has
/// finished its own (under the partial folder's lock, so exactly one assembles), or by <c>--merge</c>.
/// </summary>
static class ShardedParts
{
    public static PartSharing Sharing(PredictOptions o) => o.Merge ? PartSharing.MergeOnly : o.Shard is null ? PartSharing.Alone : PartSharing.Shared;

    /// <summary>The parts this run computes: all (alone), the worker's range (a shard), none (a merge).</summary>
    public static PartSelection Select(PredictOptions o, StripPlan plan, PartStore store)
    {
        if (o.Merge) return new(_ => false, store.Has);
        if (o.Shard is not { } shard) return new(_ => true, u => u < store.Finished);
        var (from, to) = shard.Range(plan.PartCount);
        return new(u => u >= from && u < to, store.Has);
    }

    /// <summary>
    /// Assembles the output (<paramref name="assemble"/>, which removes the parts) when every part is
    /// written; the number of parts still missing (0: the output is complete, here or by another worker).
    /// </summary>
    public static int Finish(PredictOptions o, string output, StripPlan plan, PartStore store, Action assemble)
    {
        if (Sharing(o) == PartSharing.Alone) { assemble(); return 0; }
        using var held = PartLock.Take(store.Dir);
        if (held is null) // another worker assembled the output and removed the parts
            return File.Exists(output) ? 0 : throw new InvalidDataException($"{output}: the parts in {store.Dir} were removed before the output was written (another run with other options?)");
        var missing = Enumerable.Range(0, plan.PartCount).Where(u => !store.Has(u)).ToList();
        if (missing.Count == 0) { assemble(); return 0; }
        if (o.Merge)
            throw new InvalidDataException($"{output}: {missing.Count} of {plan.PartCount} parts are not written yet (the first: part {missing[0] + 1}, rows_{missing[0]:D6}.tif); rerun the workers that stopped (each continues from its parts), then --merge");
        return missing.Count;
    }

}
