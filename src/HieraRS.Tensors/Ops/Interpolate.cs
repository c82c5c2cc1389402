using System.Numerics.Tensors;

namespace HieraRS.Tensors;

public enum InterpolationMode { Bilinear, Nearest }

public static partial class F
{
    /// <summary>Resizes [N, C, H, W] to (outH, outW), PyTorch's F.interpolate rules.</summary>
    public static Tensor Interpolate(Tensor x, int outH, int outW, InterpolationMode mode = InterpolationMode.Bilinear, bool alignCorners = false) =>
        Resize(x, outH, outW, null, mode, alignCorners);

    /// <summary>Resizes by a scale factor: output floor(size * scale); coordinates use 1/scale as PyTorch does.</summary>
    public static Tensor Interpolate(Tensor x, double scale, InterpolationMode mode = InterpolationMode.Bilinear, bool alignCorners = false)
    {
        var (_, _, h, w) = Dims4(x, "interpolate");
        return Resize(x, (int)Math.Floor(h * scale), (int)Math.Floor(w * scale), scale, mode, alignCorners);
    }

    static float SourceScale(int inSize, int outSize, double? scale, bool alignCorners)
    {
        if (alignCorners) return outSize > 1 ? (float)(inSize - 1) / (outSize - 1) : 0f;
        return scale is { } s && s > 0 ? (float)(1.0 / s) : (float)inSize / outSize;
    }

    /// <summary>Per output index: the two source indices and their weights along one axis.</summary>
    static (int[] I0, int[] I1, float[] L0, float[] L1) LinearAxis(int inSize, int outSize, double? scale, bool alignCorners)
    {
        float sc = SourceScale(inSize, outSize, scale, alignCorners);
        var (i0, i1, l0, l1) = (new int[outSize], new int[outSize], new float[outSize], new float[outSize]);
        for (int o = 0; o < outSize; o++)
        {
            float src = alignCorners ? sc * o : Math.Max(sc * (o + 0.5f) - 0.5f, 0f);
            int a = Math.Min((int)src, inSize - 1);
            i0[o] = a; i1[o] = a + (a < inSize - 1 ? 1 : 0);
            l1[o] = src - a; l0[o] = 1f - l1[o];
        }
        return (i0, i1, l0, l1);
    }

    static Tensor Resize(Tensor x, int oh, int ow, double? scale, InterpolationMode mode, bool alignCorners)
    {
        var (n, c, h, w) = Dims4(x, "interpolate");
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"interpolate: output size {oh}x{ow} must be positive");
        var xc = x.Contiguous();
        var y = Tensor.Empty(n, c, oh, ow);
        float[] xs = xc.Storage, ys = y.Storage; int xo = xc.Offset;
        if (mode == InterpolationMode.Nearest)
        {
            float sh = SourceScale(h, oh, scale, false), sw = SourceScale(w, ow, scale, false);
            var hi = Enumerable.Range(0, oh).Select(o => Math.Min((int)MathF.Floor(o * sh), h - 1)).ToArray();
            var wi = Enumerable.Range(0, ow).Select(o => Math.Min((int)MathF.Floor(o * sw), w - 1)).ToArray();
            Engine.For(n * c, (long)oh * ow, (p0, p1) =>
            {
                for (int p = p0; p < p1; p++)
                    for (int i = 0; i < oh; i++)
                    {
                        int src = xo + p * h * w + hi[i] * w, dst = p * oh * ow + i * ow;
                        for (int j = 0; j < ow; j++) ys[dst + j] = xs[src + wi[j]];
                    }
            });
            return Tensor.Record(y, "upsample_nearest", x, g =>
            {
                var gc = g.Contiguous();
                var gx = Tensor.Zeros(n, c, h, w);
                Engine.For(n * c, (long)oh * ow, (p0, p1) =>
                {
                    for (int p = p0; p < p1; p++)
                        for (int i = 0; i < oh; i++)
                            for (int j = 0; j < ow; j++) gx.Storage[p * h * w + hi[i] * w + wi[j]] += gc.Storage[gc.Offset + p * oh * ow + i * ow + j];
                });
                return gx;
            });
        }
        var (h0, h1, lh0, lh1) = LinearAxis(h, oh, scale, alignCorners);
        var (w0, w1, lw0, lw1) = LinearAxis(w, ow, scale, alignCorners);
        // Separable: interpolate every input row horizontally once into rows[h, ow], then blend two
        // of those rows per output row in one vector pass (the output is written once, never read back).
        Engine.For(n * c, (long)(oh + h) * ow * 2, (p0, p1) =>
        {
            var rows = Scratch.Rent(h * ow);
            for (int p = p0; p < p1; p++)
            {
                int b = xo + p * h * w;
                for (int r = 0; r < h; r++)
                    SpanMath.Gather2(xs.AsSpan(b + r * w, w), w0, lw0, w1, lw1, rows.AsSpan(r * ow, ow));
                for (int i = 0; i < oh; i++)
                    SpanMath.Blend(rows.AsSpan(h0[i] * ow, ow), lh0[i], rows.AsSpan(h1[i] * ow, ow), lh1[i], ys.AsSpan(p * oh * ow + i * ow, ow));
            }
            Scratch.Return(rows);
        });
        return Tensor.Record(y, "upsample_bilinear", x, g =>
        {
            var gc = g.Contiguous();
            var gx = Tensor.Zeros(n, c, h, w);
            float[] gs = gc.Storage, gxs = gx.Storage; int go = gc.Offset;
            Engine.For(n * c, (long)(oh + h) * ow * 2, (p0, p1) =>
            {
                var rows = new float[h * ow];
                for (int p = p0; p < p1; p++)
                {
                    Array.Clear(rows);
                    for (int i = 0; i < oh; i++)
                    {
                        var grow = gs.AsSpan(go + p * oh * ow + i * ow, ow);
                        var r0 = rows.AsSpan(h0[i] * ow, ow); var r1 = rows.AsSpan(h1[i] * ow, ow);
                        TensorPrimitives.MultiplyAdd(grow, lh0[i], r0, r0);
                        TensorPrimitives.MultiplyAdd(grow, lh1[i], r1, r1);
                    }
                    int b = p * h * w;
                    for (int r = 0; r < h; r++)
                    {
                        int src = r * ow, dst = b + r * w;
                        for (int j = 0; j < ow; j++)
                        {
                            float v = rows[src + j];
                            gxs[dst + w0[j]] += lw0[j] * v;
                            gxs[dst + w1[j]] += lw1[j] * v;
                        }
                    }
                }
            });
            return gx;
        });
    }
}
