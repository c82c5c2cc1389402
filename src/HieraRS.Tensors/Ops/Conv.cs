using System.Numerics.Tensors;

namespace HieraRS.Tensors;

/// <summary>Geometry of a 2-D convolution or pooling window.</summary>
internal readonly record struct ConvGeom(int N, int C, int H, int W, int O, int Kh, int Kw,
    int Sh, int Sw, int Ph, int Pw, int Dh, int Dw, int Groups)
{
    public int Ho => (H + 2 * Ph - Dh * (Kh - 1) - 1) / Sh + 1;
    public int Wo => (W + 2 * Pw - Dw * (Kw - 1) - 1) / Sw + 1;
    public int Cg => C / Groups;
    public int Og => O / Groups;
    public int K => Cg * Kh * Kw;
    public bool Pointwise => Kh == 1 && Kw == 1 && Sh == 1 && Sw == 1 && Ph == 0 && Pw == 0;

    /// <summary>First output column whose input column (for kernel offset j) is inside the image.</summary>
    public int ColLo(int j) => Math.Min(Wo, Math.Max(0, CeilDiv(Pw - j * Dw, Sw))); // Wo when the tap never lands (kernel wider than padded map)
    /// <summary>One past the last such output column.</summary>
    public int ColHi(int j) => Math.Clamp(CeilDiv(W + Pw - j * Dw, Sw), ColLo(j), Wo);

    static int CeilDiv(int a, int b) => a <= 0 ? -((-a) / b) : (a + b - 1) / b;
}

public static partial class F
{
    /// <summary>2-D convolution, PyTorch semantics: x [N,C,H,W], weight [O, C/groups, kh, kw].</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1) =>
        Conv2d(x, weight, bias, (stride, stride), (padding, padding), (dilation, dilation), groups);

    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, int groups = 1)
    {
        if (x.Rank != 4) throw new ArgumentException($"conv2d expects a 4-D input [N,C,H,W], got {ShapeUtil.Format(x.Shape)}");
        if (weight.Rank != 4) throw new ArgumentException($"conv2d expects a 4-D weight, got {ShapeUtil.Format(weight.Shape)}");
        var g = new ConvGeom(x.Size(0), x.Size(1), x.Size(2), x.Size(3), weight.Size(0), weight.Size(2), weight.Size(3),
            stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, groups);
        if (g.C % groups != 0 || g.O % groups != 0 || weight.Size(1) != g.Cg)
            throw new ArgumentException($"conv2d: input channels {g.C}, weight {ShapeUtil.Format(weight.Shape)} and groups {groups} do not fit");
        if (g.Ho <= 0 || g.Wo <= 0) throw new ArgumentException($"conv2d: input {g.H}x{g.W} too small for kernel {g.Kh}x{g.Kw}");
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != g.O)) throw new ArgumentException($"conv2d: bias must be [{g.O}]");

        var xc = x.Contiguous(); var wc = weight.Contiguous();
        bool depthwise = groups == g.C && g.O == g.C;
        var y = Tensor.Empty(g.N, g.O, g.Ho, g.Wo);
        if (depthwise) ConvKernels.DepthwiseForward(g, xc.Storage, xc.Offset, wc.Storage, wc.Offset, y.Storage);
        else if (ConvKernels.FewOutputs(g)) ConvKernels.FewOutputsForward(g, xc.Storage, xc.Offset, wc.Storage, wc.Offset, y.Storage);
        else ConvKernels.GemmForward(g, xc.Storage, xc.Offset, wc.Storage, wc.Offset, y.Storage);
        if (bias is not null) ConvKernels.AddBias(y.Storage, bias.Contiguous(), g.N, g.O, g.Ho * g.Wo);

        var inputs = bias is null ? new[] { x, weight } : new[] { x, weight, bias };
        string name = Profiler.Enabled ? $"conv2d {g.Kh}x{g.Kw}/{g.Sh} {g.C}->{g.O}@{g.H}" + (groups > 1 ? $" g{groups}" : "") : "conv2d";
        return Tensor.Record(y, name, inputs, gy =>
        {
            var gc = gy.Contiguous();
            // the flipped-kernel convolution writes every element; the other paths accumulate
            bool overwrites = !depthwise && ConvKernels.InputGradOverwrites(g);
            Tensor? gx = !x.RequiresGrad ? null : overwrites ? Tensor.Empty(g.N, g.C, g.H, g.W) : Tensor.Zeros(g.N, g.C, g.H, g.W);
            Tensor? gw = weight.RequiresGrad ? Tensor.Zeros(weight.Shape.ToArray()) : null;
            if (gx is not null || gw is not null)
            {
                if (depthwise) ConvKernels.DepthwiseBackward(g, xc.Storage, xc.Offset, wc.Storage, wc.Offset, gc.Storage, gc.Offset, gx?.Storage, gw?.Storage);
                else ConvKernels.GemmBackward(g, xc.Storage, xc.Offset, wc.Storage, wc.Offset, gc.Storage, gc.Offset, gx?.Storage, gw?.Storage);
            }
            Tensor? gb = bias is not null && bias.RequiresGrad ? ConvKernels.BiasGrad(gc, g.N, g.O, g.Ho * g.Wo) : null;
            return bias is null ? new[] { gx, gw } : new[] { gx, gw, gb };
        });
    }
}

/// <summary>Convolution kernels: im2col + GEMM for dense/grouped, direct SIMD loops for depthwise.</summary>
internal static unsafe class ConvKernels
{
    public static void AddBias(float[] y, Tensor bias, int n, int o, int hw)
    {
        var b = bias.Storage; int bo = bias.Offset;
        Engine.For(n * o, hw, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++) { var s = y.AsSpan(p * hw, hw); TensorPrimitives.Add(s, b[bo + p % o], s); }
        });
    }

    public static Tensor BiasGrad(Tensor gy, int n, int o, int hw)
    {
        var gb = Tensor.Zeros(o);
        var s = gy.Storage; int off = gy.Offset;
        Engine.For(o, (long)n * hw, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                double acc = 0;
                for (int i = 0; i < n; i++) acc += TensorPrimitives.Sum(s.AsSpan(off + (i * o + c) * hw, hw));
                gb.Storage[c] = (float)acc;
            }
        });
        return gb;
    }

    /// <summary>Images per GEMM: enough columns to keep the GEMM efficient on small maps, bounded scratch.</summary>
    static int ImagesPerChunk(in ConvGeom g, int count)
    {
        int hw = g.Ho * g.Wo;
        int nb = Math.Clamp((2048 + hw - 1) / hw, 1, Math.Max(count, 1));
        long limit = 16L << 20; // floats of column scratch (64 MB)
        while (nb > 1 && (long)g.C * g.Kh * g.Kw * nb * hw > limit) nb--;
        return nb;
    }

    /// <summary>
    /// Writes the im2col rows of images [n0, n0 + cnt) of x into col: image j fills columns
    /// [j*Ho*Wo, (j+1)*Ho*Wo) of each row (row stride ldc). One parallel loop over rows covers the chunk.
    /// </summary>
    static void Im2Col(in ConvGeom g, float* x, int n0, int cnt, float* col, int ldc)
    {
        var geom = g;
        int rows = g.C * g.Kh * g.Kw, ho = g.Ho, wo = g.Wo, hw = ho * wo;
        long chw = (long)g.C * g.H * g.W;
        Engine.For(rows, (long)cnt * hw, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int c = r / (geom.Kh * geom.Kw), i = r / geom.Kw % geom.Kh, j = r % geom.Kw;
                int lo = geom.ColLo(j), hi = geom.ColHi(j), iwOff = j * geom.Dw - geom.Pw, sw = geom.Sw;
                for (int img = 0; img < cnt; img++)
                {
                    float* plane = x + (n0 + img) * chw + (long)c * geom.H * geom.W;
                    float* dstRow = col + (long)r * ldc + img * hw;
                    for (int oh = 0; oh < ho; oh++)
                    {
                        float* dst = dstRow + oh * wo;
                        int ih = oh * geom.Sh - geom.Ph + i * geom.Dh;
                        if ((uint)ih >= (uint)geom.H) { for (int ow = 0; ow < wo; ow++) dst[ow] = 0; continue; }
                        float* src = plane + (long)ih * geom.W;
                        for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
                        for (int ow = hi; ow < wo; ow++) dst[ow] = 0;
                        if (sw == 1 && hi - lo >= 16) new Span<float>(src + lo + iwOff, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
                        else for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * sw + iwOff]; // short rows: a call costs more than the copy
                    }
                }
            }
        });
    }

    /// <summary>Adds the columns of col back into the gradients of images [n0, n0 + cnt) (parallel over channels).</summary>
    static void Col2Im(in ConvGeom g, float* col, int ldc, float* gx, int n0, int cnt)
    {
        var geom = g;
        int ho = g.Ho, wo = g.Wo, hw = ho * wo;
        long chw = (long)g.C * g.H * g.W;
        Engine.For(g.C, (long)cnt * g.Kh * g.Kw * hw, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
                for (int img = 0; img < cnt; img++)
                {
                    float* plane = gx + (n0 + img) * chw + (long)c * geom.H * geom.W;
                    for (int i = 0; i < geom.Kh; i++)
                        for (int j = 0; j < geom.Kw; j++)
                        {
                            int r = (c * geom.Kh + i) * geom.Kw + j;
                            int lo = geom.ColLo(j), hi = geom.ColHi(j), iwOff = j * geom.Dw - geom.Pw, sw = geom.Sw;
                            for (int oh = 0; oh < ho; oh++)
                            {
                                int ih = oh * geom.Sh - geom.Ph + i * geom.Dh;
                                if ((uint)ih >= (uint)geom.H) continue;
                                float* src = col + (long)r * ldc + img * hw + oh * wo;
                                float* dst = plane + (long)ih * geom.W;
                                if (sw == 1 && hi - lo >= 16)
                                {
                                    var d = new Span<float>(dst + lo + iwOff, hi - lo);
                                    TensorPrimitives.Add(d, new ReadOnlySpan<float>(src + lo, hi - lo), d);
                                }
                                else for (int ow = lo; ow < hi; ow++) dst[ow * sw + iwOff] += src[ow];
                            }
                        }
                }
        });
    }

    /// <param name="winograd">the weights' Winograd transform when the caller keeps it (<see cref="FrozenConv2d"/>), else computed here.</param>
    public static void GemmForward(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] ys, Func<float[]>? winograd = null)
    {
        if (Winograd.Eligible(g)) Winograd.Forward(g, xs, xo, winograd?.Invoke() ?? Winograd.TransformWeights(g, ws, wo), ys);
        else ForwardImages(g, xs, xo, ws, wo, ys, 0, g.N);
    }

    static void ForwardImages(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] ys, int i0, int i1)
    {
        int hw = g.Ho * g.Wo, nb = ImagesPerChunk(g, i1 - i0), chw = g.C * g.H * g.W;
        bool direct = g.Pointwise && nb == 1;
        int rows = g.C * g.Kh * g.Kw;
        float[]? col = direct ? null : Scratch.Rent(rows * nb * hw);
        float[]? tmp = nb > 1 ? Scratch.Rent(g.O * nb * hw) : null;
        try
        {
            fixed (float* px = xs, pw = ws, py = ys, pcol = col, ptmp = tmp)
            {
                for (int n0 = i0; n0 < i1; n0 += nb)
                {
                    int cnt = Math.Min(nb, i1 - n0), cols = cnt * hw;
                    float* colp; int ldc;
                    if (direct) { colp = px + xo + (long)n0 * chw; ldc = hw; }
                    else
                    {
                        colp = pcol; ldc = cols;
                        Im2Col(g, px + xo, n0, cnt, colp, ldc);
                    }
                    float* outp = cnt == 1 ? py + (long)n0 * g.O * hw : ptmp;
                    for (int gr = 0; gr < g.Groups; gr++)
                        Gemm.Run(false, false, g.Og, cols, g.K, 1f,
                            new ReadOnlySpan<float>(pw + wo + (long)gr * g.Og * g.K, g.Og * g.K), g.K,
                            new ReadOnlySpan<float>(colp + (long)gr * g.K * ldc, g.K * ldc), ldc, 0f,
                            new Span<float>(outp + (long)gr * g.Og * cols, g.Og * cols), cols);
                    if (cnt > 1) ScatterChunk(outp, py + (long)n0 * g.O * hw, g.O, cnt, hw);
                }
            }
        }
        finally
        {
            Scratch.Return(col);
            Scratch.Return(tmp);
        }
    }

    /// <summary>[O, cnt*hw] chunk layout to [cnt, O, hw] images.</summary>
    static void ScatterChunk(float* src, float* dst, int o, int cnt, int hw)
    {
        Engine.For(o, (long)cnt * hw, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
                for (int j = 0; j < cnt; j++)
                    new Span<float>(src + ((long)c * cnt + j) * hw, hw).CopyTo(new Span<float>(dst + ((long)j * o + c) * hw, hw));
        });
    }

    /// <summary>[cnt, O, hw] images to the [O, cnt*hw] chunk layout.</summary>
    static void GatherChunk(float* src, float* dst, int o, int cnt, int hw)
    {
        Engine.For(o, (long)cnt * hw, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
                for (int j = 0; j < cnt; j++)
                    new Span<float>(src + ((long)j * o + c) * hw, hw).CopyTo(new Span<float>(dst + ((long)c * cnt + j) * hw, hw));
        });
    }

    /// <summary>Weight and input gradients, accumulated over image chunks in order.</summary>
    public static void GemmBackward(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] gys, int gyo, float[]? gxs, float[]? gws)
    {
        if (gxs is not null && TransposedGeometry(g) is { } gt)
        {
            // Stride 1: the input gradient is a plain convolution of the output gradient with the
            // flipped, transposed kernel, which avoids col2im's scattered accumulation.
            GemmForward(gt, gys, gyo, FlipTranspose(g, ws, wo), 0, gxs);
            gxs = null;
            if (gws is null) return;
        }
        if (gxs is null && gws is not null && Winograd.Eligible(g)) Winograd.WeightGrad(g, xs, xo, gys, gyo, gws);
        else BackwardImages(g, xs, xo, ws, wo, gys, gyo, gxs, gws, 0, g.N);
    }

    /// <summary>Whether the input gradient is written whole (by the flipped-kernel convolution) rather than accumulated.</summary>
    public static bool InputGradOverwrites(in ConvGeom g) => TransposedGeometry(g) is not null;

    /// <summary>The convolution computing dX from dY for stride 1 (padding d*(k-1)-p), or null.</summary>
    static ConvGeom? TransposedGeometry(in ConvGeom g)
    {
        if (g.Sh != 1 || g.Sw != 1 || g.Pointwise) return null;
        int ph = g.Dh * (g.Kh - 1) - g.Ph, pw = g.Dw * (g.Kw - 1) - g.Pw;
        if (ph < 0 || pw < 0) return null;
        return new ConvGeom(g.N, g.O, g.Ho, g.Wo, g.C, g.Kh, g.Kw, 1, 1, ph, pw, g.Dh, g.Dw, g.Groups);
    }

    /// <summary>W'[gr*Cg + c, o, i, j] = W[gr*Og + o, c, kh-1-i, kw-1-j].</summary>
    static float[] FlipTranspose(in ConvGeom g, float[] ws, int wo)
    {
        int khw = g.Kh * g.Kw;
        var wt = new float[g.C * g.Og * khw];
        for (int gr = 0; gr < g.Groups; gr++)
            for (int o = 0; o < g.Og; o++)
                for (int c = 0; c < g.Cg; c++)
                {
                    int src = wo + ((gr * g.Og + o) * g.Cg + c) * khw, dst = ((gr * g.Cg + c) * g.Og + o) * khw;
                    for (int k = 0; k < khw; k++) wt[dst + k] = ws[src + khw - 1 - k];
                }
        return wt;
    }

    static void BackwardImages(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] gys, int gyo, float[]? gxs, float[]? gws, int i0, int i1)
    {
        int hw = g.Ho * g.Wo, nb = ImagesPerChunk(g, i1 - i0), chw = g.C * g.H * g.W;
        bool pointwise = g.Pointwise;
        int rows = g.C * g.Kh * g.Kw;
        float[] col = Scratch.Rent(rows * nb * hw);
        float[]? tmp = nb > 1 ? Scratch.Rent(g.O * nb * hw) : null;
        try
        {
            fixed (float* px = xs, pw = ws, pgy = gys, pgx = gxs, pgw = gws, pcol = col, ptmp = tmp)
            {
                for (int n0 = i0; n0 < i1; n0 += nb)
                {
                    int cnt = Math.Min(nb, i1 - n0), cols = cnt * hw;
                    float* gyp = pgy + gyo + (long)n0 * g.O * hw;
                    if (cnt > 1) { GatherChunk(gyp, ptmp, g.O, cnt, hw); gyp = ptmp; }
                    if (pgw != null)
                    {
                        float* colp; int ldc;
                        if (pointwise && cnt == 1) { colp = px + xo + (long)n0 * chw; ldc = hw; }
                        else
                        {
                            colp = pcol; ldc = cols;
                            Im2Col(g, px + xo, n0, cnt, colp, ldc);
                        }
                        for (int gr = 0; gr < g.Groups; gr++)
                            Gemm.Run(false, true, g.Og, g.K, cols, 1f,
                                new ReadOnlySpan<float>(gyp + (long)gr * g.Og * cols, g.Og * cols), cols,
                                new ReadOnlySpan<float>(colp + (long)gr * g.K * ldc, g.K * ldc), ldc, 1f,
                                new Span<float>(pgw + (long)gr * g.Og * g.K, g.Og * g.K), g.K);
                    }
                    if (pgx != null)
                    {
                        bool direct = pointwise && cnt == 1;
                        float* dcol = direct ? pgx + (long)n0 * chw : pcol;
                        for (int gr = 0; gr < g.Groups; gr++)
                            Gemm.Run(true, false, g.K, cols, g.Og, 1f,
                                new ReadOnlySpan<float>(pw + wo + (long)gr * g.Og * g.K, g.Og * g.K), g.K,
                                new ReadOnlySpan<float>(gyp + (long)gr * g.Og * cols, g.Og * cols), cols, 0f,
                                new Span<float>(dcol + (long)gr * g.K * cols, g.K * cols), cols);
                        if (!direct) Col2Im(g, dcol, cols, pgx, n0, cnt);
                    }
                }
            }
        }
        finally
        {
            Scratch.Return(col);
            Scratch.Return(tmp);
        }
    }

    /// <summary>
    /// A spatial kernel with at most 4 outputs (BHCCM's 7x7 spatial gate, 2 -> 1): a GEMM of 1-4 rows on an
    /// im2col matrix 49x larger than the input is slower than adding the taps row by row as in
    /// <see cref="DepthwiseForward"/> (the gate at 128²: 0.60 -> 0.28 ms on 2 threads, bench case conv-forward).
    /// </summary>
    public static bool FewOutputs(in ConvGeom g) => g.Groups == 1 && g.O <= 4 && g.Sw == 1 && g.Kh * g.Kw > 1;

    public static void FewOutputsForward(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] ys)
    {
        int hw = g.Ho * g.Wo, khw = g.Kh * g.Kw;
        fixed (float* px = xs, pw = ws, py = ys)
        {
            float* x0 = px + xo, w0 = pw + wo, y0 = py;
            Engine.For(g.N * g.O * g.Ho, (long)g.Wo * g.C * khw, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    int oh = r % g.Ho, no = r / g.Ho, n = no / g.O, o = no % g.O;
                    var yrow = new Span<float>(y0 + (long)no * hw + oh * g.Wo, g.Wo);
                    yrow.Clear();
                    for (int c = 0; c < g.C; c++)
                        for (int i = 0; i < g.Kh; i++)
                        {
                            int ih = oh * g.Sh - g.Ph + i * g.Dh;
                            if ((uint)ih >= (uint)g.H) continue;
                            float* xrow = x0 + ((long)(n * g.C + c) * g.H + ih) * g.W;
                            float* wrow = w0 + ((long)(o * g.C + c) * g.Kh + i) * g.Kw;
                            for (int j = 0; j < g.Kw; j++)
                            {
                                int lo = g.ColLo(j), hi = g.ColHi(j), off = j * g.Dw - g.Pw;
                                var d = yrow[lo..hi];
                                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(xrow + lo + off, hi - lo), wrow[j], d, d);
                            }
                        }
                }
            });
        }
    }

    public static void DepthwiseForward(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] ys)
    {
        int hw = g.Ho * g.Wo, khw = g.Kh * g.Kw;
        fixed (float* px = xs, pw = ws, py = ys)
        {
            float* x0 = px + xo, w0 = pw + wo, y0 = py;
            Engine.For(g.N * g.C, (long)hw * khw, (p0, p1) =>
            {
                for (int p = p0; p < p1; p++)
                {
                    int c = p % g.C;
                    float* xp = x0 + (long)p * g.H * g.W, yp = y0 + (long)p * hw, wp = w0 + c * khw;
                    new Span<float>(yp, hw).Clear();
                    for (int oh = 0; oh < g.Ho; oh++)
                    {
                        float* yrow = yp + oh * g.Wo;
                        for (int i = 0; i < g.Kh; i++)
                        {
                            int ih = oh * g.Sh - g.Ph + i * g.Dh;
                            if ((uint)ih >= (uint)g.H) continue;
                            float* xrow = xp + (long)ih * g.W;
                            for (int j = 0; j < g.Kw; j++)
                            {
                                float wv = wp[i * g.Kw + j];
                                int lo = g.ColLo(j), hi = g.ColHi(j), off = j * g.Dw - g.Pw;
                                if (g.Sw == 1)
                                {
                                    var d = new Span<float>(yrow + lo, hi - lo);
                                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(xrow + lo + off, hi - lo), wv, d, d);
                                }
                                else for (int ow = lo; ow < hi; ow++) yrow[ow] += wv * xrow[ow * g.Sw + off];
                            }
                        }
                    }
                }
            });
        }
    }

    public static void DepthwiseBackward(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] gys, int gyo, float[]? gxs, float[]? gws)
    {
        int hw = g.Ho * g.Wo, khw = g.Kh * g.Kw;
        fixed (float* px = xs, pw = ws, pgy = gys, pgx = gxs, pgw = gws)
        {
            float* x0 = px + xo, w0 = pw + wo, gy0 = pgy + gyo, gx0 = pgx, gw0 = pgw;
            if (gx0 != null)
                Engine.For(g.N * g.C, (long)hw * khw, (p0, p1) =>
                {
                    for (int p = p0; p < p1; p++)
                    {
                        int c = p % g.C;
                        float* gxp = gx0 + (long)p * g.H * g.W, gyp = gy0 + (long)p * hw, wp = w0 + c * khw;
                        for (int oh = 0; oh < g.Ho; oh++)
                        {
                            float* grow = gyp + oh * g.Wo;
                            for (int i = 0; i < g.Kh; i++)
                            {
                                int ih = oh * g.Sh - g.Ph + i * g.Dh;
                                if ((uint)ih >= (uint)g.H) continue;
                                float* xrow = gxp + (long)ih * g.W;
                                for (int j = 0; j < g.Kw; j++)
                                {
                                    float wv = wp[i * g.Kw + j];
                                    int lo = g.ColLo(j), hi = g.ColHi(j), off = j * g.Dw - g.Pw;
                                    if (g.Sw == 1)
                                    {
                                        var d = new Span<float>(xrow + lo + off, hi - lo);
                                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(grow + lo, hi - lo), wv, d, d);
                                    }
                                    else for (int ow = lo; ow < hi; ow++) xrow[ow * g.Sw + off] += wv * grow[ow];
                                }
                            }
                        }
                    }
                });
            if (gw0 != null)
                Engine.For(g.C, (long)g.N * hw * khw, (c0, c1) =>
                {
                    for (int c = c0; c < c1; c++)
                        for (int i = 0; i < g.Kh; i++)
                            for (int j = 0; j < g.Kw; j++)
                            {
                                int lo = g.ColLo(j), hi = g.ColHi(j), off = j * g.Dw - g.Pw;
                                double acc = 0;
                                for (int n = 0; n < g.N; n++)
                                {
                                    float* xp = x0 + ((long)n * g.C + c) * g.H * g.W, gyp = gy0 + ((long)n * g.C + c) * hw;
                                    for (int oh = 0; oh < g.Ho; oh++)
                                    {
                                        int ih = oh * g.Sh - g.Ph + i * g.Dh;
                                        if ((uint)ih >= (uint)g.H || hi <= lo) continue;
                                        float* xrow = xp + (long)ih * g.W, grow = gyp + oh * g.Wo;
                                        if (g.Sw == 1) acc += TensorPrimitives.Dot(new ReadOnlySpan<float>(grow + lo, hi - lo), new ReadOnlySpan<float>(xrow + lo + off, hi - lo));
                                        else for (int ow = lo; ow < hi; ow++) acc += grow[ow] * xrow[ow * g.Sw + off];
                                    }
                                }
                                gw0[c * khw + i * g.Kw + j] += (float)acc;
                            }
                });
        }
    }
}
