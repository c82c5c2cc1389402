using System.Runtime.Intrinsics;

namespace HieraRS.Tensors;

/// <summary>
/// A dense convolution as one GEMM, weights [O x C kh kw] times the im2col matrix [C kh kw x Ho Wo], whose
/// im2col columns are built a panel (16 or 32 output pixels) at a time into a cache-resident buffer and
/// consumed there by <see cref="BatchedGemm"/>'s kernels, instead of written whole to memory and read
/// back (51 MB for the 7x7 stem of a 512 x 512 window). Strided convolutions read the input through its
/// column phases (even and odd columns apart), so every panel row is a contiguous copy. For inference
/// (<see cref="FrozenConv2d"/>), where the weights fit in cache: the stem, strided and 1x1 convolutions.
/// </summary>
internal static unsafe class ImplicitGemm
{
    /// <summary>Dense, at least 4 output channels (the kernel's rows), weights within 2 MB (kept in cache across panels), column stride 1 or 2, 256-bit vectors.</summary>
    public static bool Eligible(in ConvGeom g) => Vector256.IsHardwareAccelerated && g.Groups == 1 && g.O >= 4 && (long)g.O * g.K * sizeof(float) <= (2L << 20) && g.Sw <= 2;

    static int Width => BatchedGemm.PanelWidth;

    [ThreadStatic] static float[]? panel, edge;

    public static void Forward(ConvGeom g, float[] xs, int xo, float[] ws, int wo, float[] ys)
    {
        // column phases: phase f of row r holds columns f, f + sw, f + 2 sw, ... of the input row (stride 1:
        // the rows themselves, phaseW = W)
        int phaseW = (g.W + g.Sw - 1) / g.Sw;
        float[] phased = g.Sw == 1 ? xs : Phases(g, xs, xo, phaseW);
        try
        {
            fixed (float* px = phased, pw = ws, py = ys)
                Panels(g, px + (g.Sw == 1 ? xo : 0), phaseW, pw + wo, py);
        }
        finally
        {
            if (phased != xs) Scratch.Return(phased);
        }
    }

    /// <summary>Every panel of every image: packed, multiplied by the weights, written to its output columns.</summary>
    static void Panels(ConvGeom g, float* x, int phaseW, float* w, float* y)
    {
        int p = g.Ho * g.Wo, width = Width, panels = (p + width - 1) / width;
        long image = (long)g.C * g.H * g.Sw * phaseW;
        Engine.For(g.N * panels, 2L * g.O * g.K * width, (q0, q1) =>
        {
            if (panel is null || panel.Length < g.K * width) panel = new float[g.K * width];
            if (edge is null || edge.Length < g.O * width) edge = new float[g.O * width];
            fixed (float* pp = panel, pe = edge)
                for (int q = q0; q < q1; q++)
                {
                    int n = q / panels, first = q % panels * width, cols = Math.Min(width, p - first);
                    Pack(g, x + n * image, phaseW, first, cols, pp, width);
                    float* yn = y + (long)n * g.O * p;
                    if (cols == width) { BatchedGemm.Panel(g.O, g.K, w, pp, width, yn + first, p); continue; }
                    BatchedGemm.Panel(g.O, g.K, w, pp, width, pe, width); // the last, partial panel: through a buffer
                    for (int o = 0; o < g.O; o++) new ReadOnlySpan<float>(pe + o * width, cols).CopyTo(new Span<float>(yn + (long)o * p + first, cols));
                }
        });
    }

    /// <summary>Each input row split into its sw column phases, one after the other ([N, C, H, sw, phaseW]).</summary>
    static float[] Phases(in ConvGeom g, float[] xs, int xo, int phaseW)
    {
        int sw = g.Sw, w = g.W, rows = g.N * g.C * g.H;
        var dst = Scratch.Rent(rows * sw * phaseW);
        Engine.For(rows, w, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var src = xs.AsSpan(xo + r * w, w);
                var d = dst.AsSpan(r * sw * phaseW, sw * phaseW);
                d.Clear();
                for (int f = 0; f < sw; f++)
                {
                    var ph = d.Slice(f * phaseW, phaseW);
                    for (int x = f, t = 0; x < w; x += sw, t++) ph[t] = src[x];
                }
            }
        });
        return dst;
    }

    /// <summary>
    /// Panel rows k = (c, i, j) of output pixels [first, first + cols), zero past cols and outside the
    /// input: row k, pixel (oy, ox) holds x[c, oy sh - ph + i dh, ox sw - pw + j dw].
    /// </summary>
    static void Pack(in ConvGeom g, float* x, int phaseW, int first, int cols, float* panel, int width)
    {
        int sw = g.Sw, rowLen = phaseW, rowStride = sw * phaseW;
        if (cols < width) for (int k = 0; k < g.K; k++) new Span<float>(panel + k * width + cols, width - cols).Clear();
        for (int at = 0; at < cols;)
        {
            int pix = first + at, oy = pix / g.Wo, ox0 = pix % g.Wo, len = Math.Min(cols - at, g.Wo - ox0);
            for (int c = 0, k = 0; c < g.C; c++)
                for (int i = 0; i < g.Kh; i++)
                {
                    int iy = oy * g.Sh - g.Ph + i * g.Dh;
                    for (int j = 0; j < g.Kw; j++, k++)
                    {
                        float* dst = panel + k * width + at;
                        if ((uint)iy >= (uint)g.H) { new Span<float>(dst, len).Clear(); continue; }
                        int ix = ox0 * sw - g.Pw + j * g.Dw; // input column of the segment's first pixel
                        int phase = ((ix % sw) + sw) % sw, start = (ix - phase) / sw; // in its phase row
                        float* src = x + ((long)c * g.H + iy) * rowStride + phase * rowLen;
                        Segment(src, rowLen, start, dst, len);
                    }
                }
            at += len;
        }
    }

    /// <summary>dst[t] = src[start + t] for t &lt; len, 0 where start + t is outside [0, rowLen).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    static void Segment(float* src, int rowLen, int start, float* dst, int len)
    {
        if (len == 32 && start >= 0 && start + 32 <= rowLen && Vector512.IsHardwareAccelerated) // a whole panel row inside the input: the common case
        {
            Vector512.Store(Vector512.Load(src + start), dst);
            Vector512.Store(Vector512.Load(src + start + 16), dst + 16);
            return;
        }
        int lo = Math.Clamp(-start, 0, len), hi = Math.Clamp(rowLen - start, lo, len);
        for (int t = 0; t < lo; t++) dst[t] = 0;
        int t1 = lo;
        for (; t1 + 8 <= hi; t1 += 8) Vector256.Store(Vector256.Load(src + start + t1), dst + t1);
        for (; t1 < hi; t1++) dst[t1] = src[start + t1];
        for (int t = hi; t < len; t++) dst[t] = 0;
    }
}
