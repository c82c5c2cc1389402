using HieraRS.Tensors;

namespace HieraRS.NN.Distributed;

/// <summary>
/// Averages the gradients of a model's parameters over the ranks before each optimizer step: the
/// gradients are copied, in parameter order, into buckets of about <see cref="BucketFloats"/> floats,
/// each bucket summed with one all-reduce and divided by the number of ranks. Each rank's loss is the
/// mean over its share of the global batch (equal shares), so the average of the ranks' gradients is the
/// gradient of the global batch's loss.
/// </summary>
public sealed class GradientAverager(ICommunicator comm, IReadOnlyList<Tensor> parameters)
{
    /// <summary>4 Mi floats (16 MiB) per all-reduce: large enough to reach the network's bandwidth, small enough to bound the copy.</summary>
    public const int BucketFloats = 1 << 22;

    readonly float[] bucket = new float[Math.Min(BucketFloats, Math.Max(1, parameters.Sum(p => p.Numel)))];

    /// <summary>Replaces every parameter's gradient by its mean over the ranks (a parameter without a gradient on some rank counts zero there).</summary>
    public void Average()
    {
        if (comm.Size == 1) return;
        var present = Present();
        float scale = 1f / comm.Size;
        int fill = 0;
        var pending = new List<Tensor>();
        foreach (var p in parameters.Where((_, i) => present[i]))
        {
            if (fill + p.Numel > bucket.Length && pending.Count > 0) Flush(pending, ref fill, scale);
            if (p.Numel > bucket.Length) { Reduce(p, scale); continue; }
            GradOf(p).CopyTo(bucket.AsSpan(fill));
            fill += p.Numel;
            pending.Add(p);
        }
        if (pending.Count > 0) Flush(pending, ref fill, scale);
    }

    /// <summary>Which parameters have a gradient on at least one rank (the same list on every rank).</summary>
    bool[] Present()
    {
        var has = parameters.Select(p => p.Grad is null ? 0f : 1f).ToArray();
        comm.AllReduceSum(has);
        return has.Select(h => h > 0).ToArray();
    }

    void Flush(List<Tensor> pending, ref int fill, float scale)
    {
        var all = bucket.AsSpan(0, fill);
        comm.AllReduceSum(all);
        int at = 0;
        foreach (var p in pending)
        {
            p.Grad = Scaled(all.Slice(at, p.Numel), scale, p);
            at += p.Numel;
        }
        pending.Clear();
        fill = 0;
    }

    /// <summary>A parameter larger than a bucket goes alone.</summary>
    void Reduce(Tensor p, float scale)
    {
        var own = GradOf(p).ToArray();
        comm.AllReduceSum(own);
        p.Grad = Scaled(own, scale, p);
    }

    static ReadOnlySpan<float> GradOf(Tensor p) => p.Grad is { } g ? g.Contiguous().Span : new float[p.Numel];

    static Tensor Scaled(Span<float> sum, float scale, Tensor p)
    {
        foreach (ref var v in sum) v *= scale;
        return Tensor.FromArray(sum, p.Shape.ToArray());
    }
}
