using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace HieraRS.Tensors;

public sealed partial class Tensor
{
    const int InnerChunk = 2048;

    /// <summary>
    /// Calls body(o, i0, i1) over every outer index and chunk of the inner extent of an
    /// [outer, D, inner] layout, in parallel and with a fixed partition.
    /// </summary>
    static void ForOuterInner(int outer, int d, int inner, Action<int, int, int> body)
    {
        int chunks = (inner + InnerChunk - 1) / InnerChunk;
        Engine.For(outer * chunks, (long)d * Math.Min(inner, InnerChunk), (u0, u1) =>
        {
            for (int u = u0; u < u1; u++)
            {
                int o = u / chunks, c = u % chunks, i0 = c * InnerChunk;
                body(o, i0, Math.Min(inner, i0 + InnerChunk));
            }
        });
    }

    int[] ReducedShape(int d, bool keepDim)
    {
        var l = shape.ToList();
        if (keepDim) l[d] = 1; else l.RemoveAt(d);
        return l.ToArray();
    }

    /// <summary>Sum of all elements (a scalar).</summary>
    public Tensor Sum()
    {
        var c = Contiguous();
        var r = Scalar(SumSpan(c.Storage.AsSpan(c.Offset, c.Numel)));
        var inShape = shape;
        return Record(r, "sum", this, g => g.Reshape(Enumerable.Repeat(1, inShape.Length).ToArray()).Expand(inShape));
    }

    /// <summary>Deterministic parallel sum: fixed chunks, summed in order in double.</summary>
    internal static float SumSpan(ReadOnlySpan<float> s)
    {
        const int Block = 1 << 16;
        int n = (s.Length + Block - 1) / Block;
        if (n <= 1) return TensorPrimitives.Sum(s);
        var partial = new double[n];
        unsafe
        {
            fixed (float* p0 = s)
            {
                float* p = p0; int len = s.Length;
                Engine.For(n, Block, (a, b) =>
                {
                    for (int i = a; i < b; i++)
                        partial[i] = TensorPrimitives.Sum(new ReadOnlySpan<float>(p + (long)i * Block, Math.Min(Block, len - i * Block)));
                });
            }
        }
        double t = 0;
        foreach (var v in partial) t += v;
        return (float)t;
    }

    public Tensor Mean() => Sum().Div(Math.Max(Numel, 1));

    public Tensor Sum(int dim, bool keepDim = false)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        var c = Contiguous();
        var (outer, size, inner) = ShapeUtil.Split3(shape, d);
        var r = Empty(ReducedShape(d, keepDim));
        float[] x = c.Storage, y = r.Storage; int off = c.Offset;
        if (inner == 1)
            Engine.For(outer, size, (o0, o1) => { for (int o = o0; o < o1; o++) y[o] = TensorPrimitives.Sum(x.AsSpan(off + o * size, size)); });
        else
            ForOuterInner(outer, size, inner, (o, i0, i1) =>
            {
                var dst = y.AsSpan(o * inner + i0, i1 - i0);
                x.AsSpan(off + o * size * inner + i0, i1 - i0).CopyTo(dst);
                for (int k = 1; k < size; k++) TensorPrimitives.Add(dst, x.AsSpan(off + (o * size + k) * inner + i0, i1 - i0), dst);
            });
        var inShape = shape;
        var keep = ReducedShape(d, true);
        return Record(r, "sum_dim", this, g => g.Reshape(keep).Expand(inShape));
    }

    public Tensor Sum(int[] dims, bool keepDim = false)
    {
        var t = this;
        foreach (var d in dims.Select(d => ShapeUtil.NormDim(d, Rank)).OrderByDescending(d => d)) t = t.Sum(d, keepDim);
        return t;
    }

    public Tensor Mean(int dim, bool keepDim = false) => Sum(dim, keepDim).Div(shape[ShapeUtil.NormDim(dim, Rank)]);

    public Tensor Mean(int[] dims, bool keepDim = false)
    {
        int n = 1;
        foreach (var d in dims) n *= shape[ShapeUtil.NormDim(d, Rank)];
        return Sum(dims, keepDim).Div(n);
    }

    /// <summary>Maximum along a dim, with the index of the first maximum.</summary>
    public (Tensor Values, IntTensor Indices) Max(int dim, bool keepDim = false) => Extreme(dim, keepDim, true);

    /// <summary>Minimum along a dim, with the index of the first minimum.</summary>
    public (Tensor Values, IntTensor Indices) Min(int dim, bool keepDim = false) => Extreme(dim, keepDim, false);

    public IntTensor Argmax(int dim, bool keepDim = false) => Extreme(dim, keepDim, true).Indices;
    public IntTensor Argmin(int dim, bool keepDim = false) => Extreme(dim, keepDim, false).Indices;

    /// <summary>Largest element (NaN if any is NaN).</summary>
    public float MaxValue() { var c = Contiguous(); return TensorPrimitives.Max(c.Storage.AsSpan(c.Offset, c.Numel)); }
    public float MinValue() { var c = Contiguous(); return TensorPrimitives.Min(c.Storage.AsSpan(c.Offset, c.Numel)); }

    (Tensor Values, IntTensor Indices) Extreme(int dim, bool keepDim, bool max)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        var c = Contiguous();
        var (outer, size, inner) = ShapeUtil.Split3(shape, d);
        var outShape = ReducedShape(d, keepDim);
        var r = Empty(outShape);
        var idx = new IntTensor(outShape);
        float[] x = c.Storage, y = r.Storage; long[] ix = idx.Data; int off = c.Offset;
        ForOuterInner(outer, size, inner, (o, i0, i1) =>
        {
            int i = i0;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= i1; i += 8) ExtremeOf8(x, off + o * size * inner + i, size, inner, max, y, ix, o * inner + i);
            for (; i < i1; i++)
            {
                int b = off + o * size * inner + i;
                float best = x[b]; int bi = 0;
                for (int k = 1; k < size; k++)
                {
                    float v = x[b + k * inner];
                    if (max ? v > best || (float.IsNaN(v) && !float.IsNaN(best)) : v < best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; bi = k; }
                }
                y[o * inner + i] = best; ix[o * inner + i] = bi;
            }
        });
        var inShape = shape;
        var res = Record(r, max ? "max_dim" : "min_dim", this, g =>
        {
            var gc = g.Contiguous();
            var gi = Zeros(inShape);
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                    gi.Storage[(o * size + (int)ix[o * inner + i]) * inner + i] += gc.Storage[gc.Offset + o * inner + i];
            return gi;
        });
        return (res, idx);
    }

    /// <summary>
    /// The extreme along the reduced dim of eight adjacent inner positions at once (a reduction over channels
    /// of an image: the inner dim is the pixels), with the scalar loop's rule: the first extreme, NaN wins.
    /// </summary>
    static void ExtremeOf8(float[] x, int b, int size, int inner, bool max, float[] y, long[] ix, int at)
    {
        var best = Vector256.Create(x.AsSpan(b, 8));
        var bi = Vector256<int>.Zero;
        for (int k = 1; k < size; k++)
        {
            var v = Vector256.Create(x.AsSpan(b + k * inner, 8));
            var better = max ? Vector256.GreaterThan(v, best) : Vector256.LessThan(v, best);
            better |= ~Vector256.Equals(v, v) & Vector256.Equals(best, best); // v is NaN, best is not
            best = Vector256.ConditionalSelect(better, v, best);
            bi = Vector256.ConditionalSelect(better.AsInt32(), Vector256.Create(k), bi);
        }
        best.CopyTo(y.AsSpan(at, 8));
        for (int j = 0; j < 8; j++) ix[at + j] = bi[j];
    }

    /// <summary>log(sum(exp(x))) along a dim, computed stably.</summary>
    public Tensor LogSumExp(int dim, bool keepDim = false)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        var (outer, size, inner) = ShapeUtil.Split3(shape, d);
        var c = Contiguous();
        var r = Empty(ReducedShape(d, keepDim));
        float[] x = c.Storage, y = r.Storage; int off = c.Offset;
        ForOuterInner(outer, size, inner, (o, i0, i1) =>
        {
            int n = i1 - i0;
            Span<float> m = n <= 1024 ? stackalloc float[n] : new float[n];
            Span<float> s = n <= 1024 ? stackalloc float[n] : new float[n];
            Span<float> t = n <= 1024 ? stackalloc float[n] : new float[n];
            int b = off + o * size * inner + i0;
            if (inner == 1)
            {
                var row = x.AsSpan(b, size);
                float mx = TensorPrimitives.Max(row);
                if (float.IsNegativeInfinity(mx)) { y[o] = mx; return; }
                float sum = 0;
                foreach (var v in row) sum += MathF.Exp(v - mx);
                y[o] = mx + MathF.Log(sum);
                return;
            }
            x.AsSpan(b, n).CopyTo(m);
            for (int k = 1; k < size; k++) TensorPrimitives.Max(m, x.AsSpan(b + k * inner, n), m);
            for (int j = 0; j < n; j++) if (float.IsNegativeInfinity(m[j])) m[j] = 0;
            s.Clear();
            for (int k = 0; k < size; k++)
            {
                TensorPrimitives.Subtract(x.AsSpan(b + k * inner, n), m, t);
                TensorPrimitives.Exp(t, t);
                TensorPrimitives.Add(s, t, s);
            }
            TensorPrimitives.Log(s, s);
            TensorPrimitives.Add(s, m, y.AsSpan(o * inner + i0, n));
        });
        var src = this;
        var keep = ReducedShape(d, true);
        return Record(r, "logsumexp", this, g =>
        {
            var p = src.Detach().Sub(r.Detach().Reshape(keep)).Exp();
            return p.Mul(g.Reshape(keep));
        });
    }

    public Tensor Softmax(int dim)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        var y = SoftmaxKernel(d, log: false);
        return Record(y, "softmax", this, g =>
        {
            var yd = y.Detach();
            var gy = g.Mul(yd);
            return gy.Sub(yd.Mul(gy.Sum(d, keepDim: true)));
        });
    }

    public Tensor LogSoftmax(int dim)
    {
        int d = ShapeUtil.NormDim(dim, Rank);
        var y = SoftmaxKernel(d, log: true);
        return Record(y, "log_softmax", this, g => g.Sub(y.Detach().Exp().Mul(g.Sum(d, keepDim: true))));
    }

    /// <summary>(log-)softmax over dim d of an [outer, D, inner] layout; vectorised over inner when inner &gt; 1.</summary>
    internal Tensor SoftmaxKernel(int d, bool log)
    {
        var (outer, size, inner) = ShapeUtil.Split3(shape, d);
        var c = Contiguous();
        var r = Empty(shape);
        float[] x = c.Storage, y = r.Storage; int off = c.Offset;
        ForOuterInner(outer, size, inner, (o, i0, i1) =>
        {
            int n = i1 - i0, b = o * size * inner + i0;
            if (inner == 1)
            {
                var row = x.AsSpan(off + b, size); var dst = y.AsSpan(b, size);
                float mx = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, mx, dst);
                if (log)
                {
                    float sum = 0;
                    foreach (var v in dst) sum += MathF.Exp(v);
                    float lse = MathF.Log(sum);
                    TensorPrimitives.Subtract(dst, lse, dst);
                }
                else
                {
                    TensorPrimitives.Exp(dst, dst);
                    TensorPrimitives.Divide(dst, TensorPrimitives.Sum(dst), dst);
                }
                return;
            }
            Span<float> m = n <= 1024 ? stackalloc float[n] : new float[n];
            Span<float> s = n <= 1024 ? stackalloc float[n] : new float[n];
            Span<float> t = n <= 1024 ? stackalloc float[n] : new float[n];
            x.AsSpan(off + b, n).CopyTo(m);
            for (int k = 1; k < size; k++) TensorPrimitives.Max(m, x.AsSpan(off + b + k * inner, n), m);
            s.Clear();
            for (int k = 0; k < size; k++)
            {
                var dst = y.AsSpan(b + k * inner, n);
                TensorPrimitives.Subtract(x.AsSpan(off + b + k * inner, n), m, dst);
                TensorPrimitives.Exp(dst, t);
                TensorPrimitives.Add(s, t, s);
                if (!log) t.CopyTo(dst);
            }
            if (log)
            {
                TensorPrimitives.Log(s, s);
                for (int k = 0; k < size; k++) { var dst = y.AsSpan(b + k * inner, n); TensorPrimitives.Subtract(dst, s, dst); }
            }
            else
            {
                TensorPrimitives.Reciprocal(s, s);
                for (int k = 0; k < size; k++) { var dst = y.AsSpan(b + k * inner, n); TensorPrimitives.Multiply(dst, s, dst); }
            }
        });
        return r;
    }
}
