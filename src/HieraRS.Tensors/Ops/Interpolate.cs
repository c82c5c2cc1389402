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
        Engine.For(n * c, (long)oh * ow * 4, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                int b = xo + p * h * w;
                for (int i = 0; i < oh; i++)
                {
                    int r0 = b + h0[i] * w, r1 = b + h1[i] * w, dst = p * oh * ow + i * ow;
                    float a0 = lh0[i], a1 = lh1[i];
                    for (int j = 0; j < ow; j++)
                        ys[dst + j] = a0 * (lw0[j] * xs[r0 + w0[j]] + lw1[j] * xs[r0 + w1[j]])
                                    + a1 * (lw0[j] * xs[r1 + w0[j]] + lw1[j] * xs[r1 + w1[j]]);
                }
            }
        });
        return Tensor.Record(y, "upsample_bilinear", x, g =>
        {
            var gc = g.Contiguous();
            var gx = Tensor.Zeros(n, c, h, w);
            float[] gs = gc.Storage, gxs = gx.Storage; int go = gc.Offset;
            Engine.For(n * c, (long)oh * ow * 4, (p0, p1) =>
            {
                for (int p = p0; p < p1; p++)
                {
                    int b = p * h * w;
                    for (int i = 0; i < oh; i++)
                    {
                        int r0 = b + h0[i] * w, r1 = b + h1[i] * w, src = go + p * oh * ow + i * ow;
                        float a0 = lh0[i], a1 = lh1[i];
                        for (int j = 0; j < ow; j++)
                        {
                            float v = gs[src + j];
                            gxs[r0 + w0[j]] += a0 * lw0[j] * v; gxs[r0 + w1[j]] += a0 * lw1[j] * v;
                            gxs[r1 + w0[j]] += a1 * lw0[j] * v; gxs[r1 + w1[j]] += a1 * lw1[j] * v;
                        }
                    }
                }
            });
            return gx;
        });
    }
}
