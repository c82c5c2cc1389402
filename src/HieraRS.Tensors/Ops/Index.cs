namespace HieraRS.Tensors;

public sealed partial class Tensor
{
    /// <summary>Elements where <paramref name="condition"/> is non-zero come from a, the others from b (broadcast).</summary>
    public static Tensor Where(IntTensor condition, Tensor a, Tensor b)
    {
        var outShape = ShapeUtil.Broadcast(ShapeUtil.Broadcast(a.shape, b.shape), condition.Shape);
        var mask = MaskOf(condition, outShape);
        var ea = a.Detach().Expand(outShape).Contiguous(); var eb = b.Detach().Expand(outShape).Contiguous();
        var y = Empty(outShape);
        float[] ys = y.Storage, sa = ea.Storage, sb = eb.Storage; int oa = ea.Offset, ob = eb.Offset;
        Engine.For(ys.Length, 1, (s, e) => { for (int i = s; i < e; i++) ys[i] = mask[i] ? sa[oa + i] : sb[ob + i]; });
        return Record(y, "where", new[] { a, b }, g =>
        {
            var gc = g.Contiguous();
            Tensor? ga = null, gb = null;
            if (a.requiresGrad) { var t = Empty(outShape); for (int i = 0; i < mask.Length; i++) t.Storage[i] = mask[i] ? gc.Storage[gc.Offset + i] : 0f; ga = t.SumTo(a.shape); }
            if (b.requiresGrad) { var t = Empty(outShape); for (int i = 0; i < mask.Length; i++) t.Storage[i] = mask[i] ? 0f : gc.Storage[gc.Offset + i]; gb = t.SumTo(b.shape); }
            return new[] { ga, gb };
        });
    }

    static bool[] MaskOf(IntTensor condition, int[] outShape)
    {
        if (ShapeUtil.SameShape(condition.Shape, outShape)) return condition.Data.Select(v => v != 0).ToArray();
        var f = condition.ToFloat().Expand(outShape).Contiguous();
        return f.Span.ToArray().Select(v => v != 0).ToArray();
    }

    /// <summary>Copy with <paramref name="value"/> where <paramref name="mask"/> is non-zero.</summary>
    public Tensor MaskedFill(IntTensor mask, float value) => Where(mask, Full(value, 1), this);

    /// <summary>out[..i..] = x[..index[..i..]..] along <paramref name="dim"/> (torch.gather).</summary>
    public Tensor Gather(int dim, IntTensor index)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        if (index.Rank != Rank) throw new ArgumentException($"gather: index rank {index.Rank} differs from input rank {Rank}");
        for (int i = 0; i < Rank; i++)
            if (i != d && index.Shape[i] > shape[i]) throw new ArgumentException($"gather: index size {index.Shape[i]} exceeds input size {shape[i]} at dim {i}");
        var xc = Contiguous();
        var xs = ContiguousStrides(shape);
        var ishape = index.Shape.ToArray();
        var offsets = new int[index.Numel];
        var pos = new int[Rank];
        for (int k = 0; k < offsets.Length; k++)
        {
            int o = 0;
            for (int i = 0; i < Rank; i++)
            {
                int v = pos[i];
                if (i == d)
                {
                    long iv = index.Data[k];
                    if (iv < 0 || iv >= shape[d]) throw new IndexOutOfRangeException($"gather: index {iv} out of range for dim {d} of size {shape[d]}");
                    v = (int)iv;
                }
                o += v * xs[i];
            }
            offsets[k] = o;
            for (int i = Rank - 1; i >= 0; i--) { if (++pos[i] < ishape[i]) break; pos[i] = 0; }
        }
        var y = Empty(ishape);
        for (int k = 0; k < offsets.Length; k++) y.Storage[k] = xc.Storage[xc.Offset + offsets[k]];
        var inShape = shape;
        return Record(y, "gather", this, g =>
        {
            var gc = g.Contiguous();
            var gx = Zeros(inShape);
            for (int k = 0; k < offsets.Length; k++) gx.Storage[offsets[k]] += gc.Storage[gc.Offset + k];
            return gx;
        });
    }

    /// <summary>Selects slices along <paramref name="dim"/> by a 1-D index (torch.index_select).</summary>
    public Tensor IndexSelect(int dim, IntTensor index)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        if (index.Rank != 1) throw new ArgumentException("index_select needs a 1-D index");
        foreach (var v in index.Data)
            if (v < 0 || v >= shape[d]) throw new IndexOutOfRangeException($"index_select: index {v} out of range for dim {d} of size {shape[d]}");
        var (outer, size, inner) = ShapeUtil.Split3(shape, d);
        var ns = (int[])shape.Clone(); ns[d] = index.Numel;
        var xc = Contiguous();
        var y = Empty(ns);
        int m = index.Numel;
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < m; k++)
                xc.Storage.AsSpan(xc.Offset + (o * size + (int)index.Data[k]) * inner, inner).CopyTo(y.Storage.AsSpan((o * m + k) * inner, inner));
        var inShape = shape;
        return Record(y, "index_select", this, g =>
        {
            var gc = g.Contiguous();
            var gx = Zeros(inShape);
            for (int o = 0; o < outer; o++)
                for (int k = 0; k < m; k++)
                {
                    var dst = gx.Storage.AsSpan((o * size + (int)index.Data[k]) * inner, inner);
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, gc.Storage.AsSpan(gc.Offset + (o * m + k) * inner, inner), dst);
                }
            return gx;
        });
    }
}

public static partial class F
{
    /// <summary>Zeroes elements with probability p and scales the rest by 1/(1-p) (training only).</summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Generator? gen = null) =>
        !training || p == 0f ? x : x.Mul(KeepMask(x.Shape.ToArray(), p, gen));

    /// <summary>Channel dropout (PyTorch's Dropout2d): zeroes whole channels of [N, C, ...] with probability p, scaling the rest by 1/(1-p).</summary>
    public static Tensor Dropout2d(Tensor x, float p, bool training, Generator? gen = null)
    {
        if (!training || p == 0f) return x;
        if (x.Rank < 2) throw new ArgumentException($"dropout2d expects [N, C, ...], got {ShapeUtil.Format(x.Shape)}");
        var ms = new int[x.Rank]; Array.Fill(ms, 1); ms[0] = x.Size(0); ms[1] = x.Size(1);
        return x.Mul(KeepMask(ms, p, gen));
    }

    /// <summary>A mask of 1/(1-p) where kept and 0 where dropped (probability p), one draw per element.</summary>
    static Tensor KeepMask(int[] shape, float p, Generator? gen)
    {
        if (p < 0f || p >= 1f) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        gen ??= Generator.Default;
        var mask = Tensor.Empty(shape);
        var s = mask.Span; float scale = 1f / (1f - p);
        for (int i = 0; i < s.Length; i++) s[i] = gen.NextDouble() >= p ? scale : 0f;
        return mask;
    }

    /// <summary>Stochastic depth: drops whole samples (dim 0) with probability p, scaling survivors by 1/(1-p).</summary>
    public static Tensor DropPath(Tensor x, float p, bool training, Generator? gen = null)
    {
        if (!training || p == 0f) return x;
        if (p < 0f || p >= 1f) throw new ArgumentOutOfRangeException(nameof(p), p, "drop path probability must be in [0, 1)");
        gen ??= Generator.Default;
        var ms = new int[x.Rank]; Array.Fill(ms, 1); ms[0] = x.Size(0);
        var mask = Tensor.Empty(ms);
        float keep = 1f - p;
        for (int i = 0; i < ms[0]; i++) mask.Span[i] = Math.Floor(keep + gen.NextDouble()) >= 1 ? 1f / keep : 0f;
        return x.Mul(mask);
    }
}
