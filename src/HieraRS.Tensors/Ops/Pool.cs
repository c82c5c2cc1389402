using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HieraRS.Tensors;

public static partial class F
{
    static int PoolOut(int size, int k, int s, int p, int d, bool ceil)
    {
        int span = size + 2 * p - d * (k - 1) - 1;
        int o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= size + p) o--; // last window must start inside the input or left padding
        return o;
    }

    /// <summary>Max pooling over [N, C, H, W] (padding counts as -inf), PyTorch semantics incl. ceil_mode.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        int s = stride ?? kernel;
        var (n, c, h, w) = Dims4(x, "max_pool2d");
        if (padding * 2 > kernel) throw new ArgumentException($"max_pool2d: padding {padding} must be at most half the kernel {kernel}");
        int ho = PoolOut(h, kernel, s, padding, dilation, ceilMode), wo = PoolOut(w, kernel, s, padding, dilation, ceilMode);
        var hs = Windows(ho, kernel, s, padding, dilation, h); var ws = Windows(wo, kernel, s, padding, dilation, w);
        bool stem = kernel == 3 && s == 2 && padding == 1 && dilation == 1 && Avx2.IsSupported; // ResNet stem: 8 outputs at once
        return MaxPoolWindows(x, ho, wo, hs, ws, dilation, "max_pool2d", stem);
    }

    /// <summary>Average pooling over [N, C, H, W], PyTorch semantics (count_include_pad, ceil_mode).</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        int s = stride ?? kernel;
        var (n, c, h, w) = Dims4(x, "avg_pool2d");
        int ho = PoolOut(h, kernel, s, padding, 1, ceilMode), wo = PoolOut(w, kernel, s, padding, 1, ceilMode);
        var hw = AvgWindows(ho, kernel, s, padding, h); var ww = AvgWindows(wo, kernel, s, padding, w);
        var div = new float[ho * wo];
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++)
                div[i * wo + j] = countIncludePad ? hw[i].Padded * ww[j].Padded : (hw[i].End - hw[i].Start) * (ww[j].End - ww[j].Start);
        return AvgPoolWindows(x, ho, wo, hw.Select(v => (v.Start, v.End)).ToArray(), ww.Select(v => (v.Start, v.End)).ToArray(), div, "avg_pool2d");
    }

    /// <summary>Adaptive average pooling to (oh, ow): bins [floor(i*H/oh), ceil((i+1)*H/oh)).</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, int oh, int ow)
    {
        var (_, _, h, w) = Dims4(x, "adaptive_avg_pool2d");
        var hb = AdaptiveBins(h, oh); var wb = AdaptiveBins(w, ow);
        var div = new float[oh * ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) div[i * ow + j] = (hb[i].End - hb[i].Start) * (wb[j].End - wb[j].Start);
        return AvgPoolWindows(x, oh, ow, hb, wb, div, "adaptive_avg_pool2d");
    }

    /// <summary>Adaptive max pooling to (oh, ow).</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor x, int oh, int ow)
    {
        var (_, _, h, w) = Dims4(x, "adaptive_max_pool2d");
        return MaxPoolWindows(x, oh, ow, AdaptiveBins(h, oh), AdaptiveBins(w, ow), 1, "adaptive_max_pool2d", false);
    }

    internal static (int N, int C, int H, int W) Dims4(Tensor x, string op)
    {
        if (x.Rank != 4) throw new ArgumentException($"{op} expects [N, C, H, W], got {ShapeUtil.Format(x.Shape)}");
        return (x.Size(0), x.Size(1), x.Size(2), x.Size(3));
    }

    static (int Start, int End)[] AdaptiveBins(int size, int outSize) =>
        Enumerable.Range(0, outSize).Select(i => (i * size / outSize, ((i + 1) * size + outSize - 1) / outSize)).ToArray();

    /// <summary>In-range input positions [Start, End) (stepping by the dilation) of each output's window.</summary>
    static (int Start, int End)[] Windows(int outSize, int k, int s, int p, int d, int size) =>
        Enumerable.Range(0, outSize).Select(o =>
        {
            int start = o * s - p, end = start + (k - 1) * d + 1;
            while (start < 0) start += d;
            return (start, Math.Max(start, Math.Min(end, size)));
        }).ToArray();

    static (int Start, int End, int Padded)[] AvgWindows(int outSize, int k, int s, int p, int size) =>
        Enumerable.Range(0, outSize).Select(o =>
        {
            int start = o * s - p, end = Math.Min(start + k, size + p), padded = end - start;
            return (Math.Max(start, 0), Math.Min(end, size), padded);
        }).ToArray();

    static unsafe Tensor MaxPoolWindows(Tensor x, int ho, int wo, (int Start, int End)[] hs, (int Start, int End)[] ws, int d, string name, bool stem)
    {
        var (n, c, h, w) = Dims4(x, name);
        var xc = x.Contiguous();
        var y = Tensor.Empty(n, c, ho, wo);
        var idx = new int[n * c * ho * wo];
        int[] hS = hs.Select(v => v.Start).ToArray(), hE = hs.Select(v => v.End).ToArray();
        int[] wS = ws.Select(v => v.Start).ToArray(), wE = ws.Select(v => v.End).ToArray();
        float[] xs = xc.Storage, ys = y.Storage; int xo = xc.Offset;
        Engine.For(n * c, (long)ho * wo * 9, (p0, p1) =>
        {
            var rowBuf = stem ? new float[3 * (w + 18)] : null;
            fixed (float* px = xs, py = ys, prb = rowBuf)
            fixed (int* pi = idx, phs = hS, phe = hE, pws = wS, pwe = wE)
                for (int p = p0; p < p1; p++)
                {
                    float* plane = px + xo + (long)p * h * w, yrow = py + (long)p * ho * wo;
                    int* irow = pi + (long)p * ho * wo;
                    for (int i = 0; i < ho; i++, yrow += wo, irow += wo)
                    {
                        int r0 = phs[i], r1 = phe[i];
                        int jVector = stem ? Stem3x3S2Row(plane, h, w, i, wo, prb, yrow, irow) : 0;
                        for (int j = jVector; j < wo; j++)
                        {
                            int q0 = pws[j], q1 = pwe[j];
                            // PyTorch's rule: start at -inf with the window's first index; a larger value or a NaN replaces it
                            float best = float.NegativeInfinity; int bi = r0 * w + q0;
                            for (int r = r0; r < r1; r += d)
                            {
                                float* row = plane + r * w;
                                for (int q = q0; q < q1; q += d)
                                {
                                    float v = row[q];
                                    if (v > best || float.IsNaN(v)) { best = v; bi = r * w + q; }
                                }
                            }
                            yrow[j] = best; irow[j] = bi;
                        }
                    }
                }
        });
        return Tensor.Record(y, name, x, g =>
        {
            var gc = g.Contiguous();
            var gx = Tensor.Zeros(n, c, h, w);
            float[] gs = gc.Storage, gxs = gx.Storage; int go = gc.Offset, hw = ho * wo;
            Engine.For(n * c, hw, (p0, p1) =>
            {
                for (int p = p0; p < p1; p++)
                {
                    int ib = p * hw, xb = p * h * w;
                    for (int k = 0; k < hw; k++) gxs[xb + idx[ib + k]] += gs[go + ib + k];
                }
            });
            return gx;
        });
    }

    /// <summary>
    /// Max pooling 3x3, stride 2, padding 1 of output row i, eight outputs at once: the three input
    /// rows are copied between -inf borders and candidates are read by deinterleaving even and odd
    /// columns. Same rule as the scalar loop (scan order, a larger value or a NaN wins). Returns the
    /// number of outputs written; the scalar loop finishes the row.
    /// </summary>
    static unsafe int Stem3x3S2Row(float* plane, int h, int w, int i, int wo, float* buf, float* yrow, int* irow)
    {
        int stride = w + 18, rFirst = Math.Max(2 * i - 1, 0), rEnd = Math.Min(2 * i + 2, h);
        for (int r = rFirst; r < rEnd; r++)
        {
            float* b = buf + (r - rFirst) * stride; // b[k] is column k - 1
            b[0] = float.NegativeInfinity;
            new ReadOnlySpan<float>(plane + (long)r * w, w).CopyTo(new Span<float>(b + 1, w));
            for (int k = w + 1; k < stride; k++) b[k] = float.NegativeInfinity;
        }
        int j = 0;
        var lane2 = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
        for (; j + 8 <= wo && 2 * j + 18 <= stride; j += 8)
        {
            var best = Vector256.Create(float.NegativeInfinity);
            // PyTorch starts from the window's first in-image element: row rFirst, column max(2j - 1, 0)
            var colStart = Avx2.Max(Vector256.Create(2 * j - 1) + lane2, Vector256<int>.Zero);
            var bi = Vector256.Create(rFirst * w) + colStart;
            for (int r = rFirst; r < rEnd; r++)
            {
                float* b = buf + (r - rFirst) * stride + 2 * j;
                var (e0, o0) = SpanMath.Deinterleave(b);
                var (e1, _) = SpanMath.Deinterleave(b + 2);
                var baseIdx = Vector256.Create(r * w + 2 * j - 1) + lane2;
                Take(ref best, ref bi, e0, baseIdx);
                Take(ref best, ref bi, o0, baseIdx + Vector256.Create(1));
                Take(ref best, ref bi, e1, baseIdx + Vector256.Create(2));
            }
            best.Store(yrow + j);
            bi.Store(irow + j);
        }
        return j;

        static void Take(ref Vector256<float> best, ref Vector256<int> bi, Vector256<float> v, Vector256<int> idx)
        {
            var take = Avx.Or(Avx.CompareGreaterThan(v, best), Avx.CompareUnordered(v, v));
            best = Avx.BlendVariable(best, v, take);
            bi = Avx.BlendVariable(bi.AsSingle(), idx.AsSingle(), take).AsInt32();
        }
    }


    static Tensor AvgPoolWindows(Tensor x, int ho, int wo, (int Start, int End)[] hb, (int Start, int End)[] wb, float[] div, string name)
    {
        var (n, c, h, w) = Dims4(x, name);
        var xc = x.Contiguous();
        var y = Tensor.Empty(n, c, ho, wo);
        float[] xs = xc.Storage, ys = y.Storage; int xo = xc.Offset;
        Engine.For(n * c, (long)h * w, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                int xb = xo + p * h * w, yb = p * ho * wo;
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        double acc = 0;
                        for (int r = hb[i].Start; r < hb[i].End; r++)
                            for (int q = wb[j].Start; q < wb[j].End; q++) acc += xs[xb + r * w + q];
                        ys[yb + i * wo + j] = (float)(acc / div[i * wo + j]);
                    }
            }
        });
        return Tensor.Record(y, name, x, g =>
        {
            var gc = g.Contiguous();
            var gx = Tensor.Zeros(n, c, h, w);
            Engine.For(n * c, (long)h * w, (p0, p1) =>
            {
                for (int p = p0; p < p1; p++)
                    for (int i = 0; i < ho; i++)
                        for (int j = 0; j < wo; j++)
                        {
                            float v = gc.Storage[gc.Offset + p * ho * wo + i * wo + j] / div[i * wo + j];
                            for (int r = hb[i].Start; r < hb[i].End; r++)
                                for (int q = wb[j].Start; q < wb[j].End; q++) gx.Storage[p * h * w + r * w + q] += v;
                        }
            });
            return gx;
        });
    }
}
