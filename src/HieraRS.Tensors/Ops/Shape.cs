namespace HieraRS.Tensors;

public sealed partial class Tensor
{
    /// <summary>Same data in a new shape (one -1 inferred). A view when contiguous, else a copy.</summary>
    public Tensor Reshape(params int[] newShape)
    {
        var s = ShapeUtil.Infer(newShape, Numel);
        var src = Contiguous();
        var v = new Tensor(src.Storage, src.Offset, s, ContiguousStrides(s));
        var inShape = shape;
        return Record(v, "reshape", src, g => g.Reshape(inShape));
    }

    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        int s = ShapeUtil.NormDim(startDim, Rank), e = ShapeUtil.NormDim(endDim, Rank);
        var ns = new List<int>(shape[..s]) { ShapeUtil.Numel(shape.AsSpan(s, e - s + 1)) };
        ns.AddRange(shape[(e + 1)..]);
        return Reshape(ns.ToArray());
    }

    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        var ns = shape.ToList(); ns.Insert(d, 1);
        return Reshape(ns.ToArray());
    }

    public Tensor Squeeze(int dim)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        if (shape[d] != 1) return this;
        var ns = shape.ToList(); ns.RemoveAt(d);
        return Reshape(ns.ToArray());
    }

    /// <summary>Reorders dimensions (a view).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"permute needs {Rank} dims, got {dims.Length}");
        var ns = new int[Rank]; var nst = new int[Rank]; var inv = new int[Rank];
        var seen = new bool[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = ShapeUtil.NormDim(dims[i], Rank);
            if (seen[d]) throw new ArgumentException($"dim {d} repeated in permute");
            seen[d] = true;
            ns[i] = shape[d]; nst[i] = strides[d]; inv[d] = i;
        }
        return Record(new Tensor(Storage, Offset, ns, nst), "permute", this, g => g.Permute(inv));
    }

    public Tensor Transpose(int d0, int d1)
    {
        var p = Enumerable.Range(0, Rank).ToArray();
        int a = ShapeUtil.NormDim(d0, Rank), b = ShapeUtil.NormDim(d1, Rank);
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>Elements [start, start+length) along <paramref name="dim"/> (a view).</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        if (start < 0) start += shape[d];
        if (start < 0 || length < 0 || start + length > shape[d])
            throw new ArgumentOutOfRangeException(nameof(start), $"narrow [{start}, {start + length}) out of range for dim {d} of size {shape[d]}");
        var ns = (int[])shape.Clone(); ns[d] = length;
        var v = new Tensor(Storage, Offset + start * strides[d], ns, strides);
        var inShape = shape;
        return Record(v, "narrow", this, g =>
        {
            var full = Zeros(inShape);
            full.NarrowData(d, start, length).AddInPlaceStrided(g);
            return full;
        });
    }

    /// <summary>A view of the data only (no autograd), used by backward functions.</summary>
    internal Tensor NarrowData(int d, int start, int length)
    {
        var ns = (int[])shape.Clone(); ns[d] = length;
        return new Tensor(Storage, Offset + start * strides[d], ns, strides);
    }

    /// <summary>this (any strides) += src, elementwise, same shape.</summary>
    internal void AddInPlaceStrided(Tensor src)
    {
        var srcC = src.Contiguous();
        var (cs, st) = Strided.Coalesce(shape, strides);
        int inner = cs[^1], istr = st[0][^1], rows = Numel / Math.Max(inner, 1);
        var s = srcC.Storage; int so = srcC.Offset;
        var dst = Storage; int off = Offset;
        for (int r = 0; r < rows; r++)
        {
            int o = off + Strided.RowOffset(r, cs, st[0]);
            for (int i = 0; i < inner; i++) dst[o + i * istr] += s[so + r * inner + i];
        }
    }

    /// <summary>Broadcasts size-1 (or missing leading) dims to <paramref name="target"/> (a view).</summary>
    public Tensor Expand(params int[] target)
    {
        if (ShapeUtil.SameShape(shape, target)) return this;
        if (target.Length < Rank) throw new ArgumentException($"cannot expand {ShapeUtil.Format(shape)} to {ShapeUtil.Format(target)}");
        var ns = new int[target.Length]; var nst = new int[target.Length];
        int lead = target.Length - Rank;
        for (int i = 0; i < target.Length; i++)
        {
            int t = target[i] == -1 ? (i >= lead ? shape[i - lead] : throw new ArgumentException("-1 in a new leading dim")) : target[i];
            if (i < lead) { ns[i] = t; nst[i] = 0; continue; }
            int s = shape[i - lead];
            if (s == t) { ns[i] = t; nst[i] = strides[i - lead]; }
            else if (s == 1) { ns[i] = t; nst[i] = 0; }
            else throw new ArgumentException($"cannot expand {ShapeUtil.Format(shape)} to {ShapeUtil.Format(target)}");
        }
        var inShape = shape;
        return Record(new Tensor(Storage, Offset, ns, nst), "expand", this, g => g.SumTo(inShape));
    }

    /// <summary>This tensor if contiguous, else a contiguous copy (gradient passes through).</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous) return this;
        return Record(CloneData(), "contiguous", this, g => g);
    }

    /// <summary>Sums broadcast dimensions away so the result has <paramref name="target"/> shape.</summary>
    public Tensor SumTo(ReadOnlySpan<int> target)
    {
        if (ShapeUtil.SameShape(shape, target)) return this;
        var t = this;
        int lead = Rank - target.Length;
        for (int i = 0; i < lead; i++) t = t.Sum(0);
        for (int i = 0; i < target.Length; i++)
            if (target[i] == 1 && t.shape[i] != 1) t = t.Sum(i, keepDim: true);
        return t;
    }

    /// <summary>Concatenates along <paramref name="dim"/>.</summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("cat of no tensors");
        var first = tensors[0];
        int d = ShapeUtil.NormDim(dim, first.Rank);
        var ns = (int[])first.shape.Clone(); ns[d] = 0;
        foreach (var t in tensors)
        {
            if (t.Rank != first.Rank) throw new ArgumentException($"cat: rank {t.Rank} vs {first.Rank}");
            for (int i = 0; i < t.Rank; i++)
                if (i != d && t.shape[i] != first.shape[i])
                    throw new ArgumentException($"cat: shapes {ShapeUtil.Format(first.shape)} and {ShapeUtil.Format(t.shape)} differ outside dim {d}");
            ns[d] += t.shape[d];
        }
        var r = Empty(ns);
        var (outer, _, inner) = ShapeUtil.Split3(ns, d);
        int pos = 0;
        foreach (var t in tensors)
        {
            var c = t.Contiguous();
            int block = t.shape[d] * inner, outBlock = ns[d] * inner, at = pos * inner;
            var src = c.Storage; int so = c.Offset;
            Engine.For(outer, block, (o0, o1) =>
            {
                for (int o = o0; o < o1; o++) src.AsSpan(so + o * block, block).CopyTo(r.Storage.AsSpan(o * outBlock + at, block));
            });
            pos += t.shape[d];
        }
        var sizes = tensors.Select(t => t.shape[d]).ToArray();
        var needs = tensors.Select(t => t.requiresGrad).ToArray();
        return Record(r, "cat", tensors.ToArray(), g =>
        {
            var grads = new Tensor?[sizes.Length];
            int p = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                if (needs[i]) grads[i] = g.NarrowData(d, p, sizes[i]).CloneData();
                p += sizes[i];
            }
            return grads;
        });
    }

    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("stack of no tensors");
        int d = dim < 0 ? dim + tensors[0].Rank + 1 : dim;
        return Cat(tensors.Select(t => t.Unsqueeze(d)).ToList(), d);
    }

    /// <summary>Views of consecutive pieces of the given sizes along <paramref name="dim"/>.</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        if (sizes.Sum() != shape[d]) throw new ArgumentException($"split sizes sum to {sizes.Sum()}, dim {d} has {shape[d]}");
        var parts = new Tensor[sizes.Length];
        int p = 0;
        for (int i = 0; i < sizes.Length; i++) { parts[i] = Narrow(d, p, sizes[i]); p += sizes[i]; }
        return parts;
    }

    /// <summary>Splits into pieces of <paramref name="size"/> (the last may be smaller), like torch.split(int).</summary>
    public Tensor[] Split(int size, int dim = 0)
    {
        int n = shape[ShapeUtil.NormDim(dim, Rank)];
        var sizes = new List<int>();
        for (int p = 0; p < n; p += size) sizes.Add(Math.Min(size, n - p));
        return Split(sizes.ToArray(), dim);
    }

    /// <summary>torch.chunk: ceil(n/chunks) per piece.</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        int n = shape[ShapeUtil.NormDim(dim, Rank)];
        return Split((n + chunks - 1) / chunks, dim);
    }
}
