using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HieraRS.Tensors;

/// <summary>
/// Winograd F(4x4, 3x3) (Lavin and Gray's matrices, points 0, +-1, +-2) for inference: each 4x4 output
/// tile takes 36 multiplies per channel pair instead of 144 (F(2x2, 3x3): 16 for 36), as 36 GEMMs
/// [O x C] x [C x tiles]. Its transformed buffers are 2.25 values per output pixel against 4, which is
/// what counts on wide maps with few channels, where the convolution is bound by memory traffic. Used by
/// <see cref="FrozenConv2d"/> only: it rounds more than F(2x2, 3x3) (the tests bound it at 2e-5 of the
/// output's scale against direct convolution), which inference can afford; training keeps F(2x2, 3x3). The 36 products go through <see cref="BatchedGemm"/>.
/// </summary>
internal static unsafe class Winograd4
{
    /// <summary>Where F(2x2, 3x3) serves, with one image's transformed input and output at most 64 MB each.</summary>
    public static bool Eligible(in ConvGeom g) => Winograd.Eligible(g) && 36L * (Math.Max(g.C, g.O) * (long)Tiles(g) + 16) <= (16L << 20);

    static int Tiles(in ConvGeom g) => (g.Ho + 3) / 4 * ((g.Wo + 3) / 4);

    /// <summary>U[xi, o, c] = (G w[o, c] G^T)[xi], G = [[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]].</summary>
    public static float[] TransformWeights(in ConvGeom g, float[] ws, int wo)
    {
        int oc = g.O * g.C;
        var u = new float[36 * oc];
        Engine.For(oc, 200, (p0, p1) =>
        {
            Span<double> t = stackalloc double[18], r = stackalloc double[6];
            for (int p = p0; p < p1; p++)
            {
                int b = wo + p * 9;
                for (int j = 0; j < 3; j++) // t = G w: 6 x 3, in double so that U is the exact transform rounded once
                {
                    double g0 = ws[b + j], g1 = ws[b + 3 + j], g2 = ws[b + 6 + j];
                    G(g0, g1, g2, t, j, 3);
                }
                for (int i = 0; i < 6; i++) // (G w) G^T: row i of t through G
                {
                    G(t[3 * i], t[3 * i + 1], t[3 * i + 2], r, 0, 1);
                    for (int k = 0; k < 6; k++) u[(i * 6 + k) * oc + p] = (float)r[k];
                }
            }
        });
        return u;
    }

    static void G(double g0, double g1, double g2, Span<double> o, int at, int stride)
    {
        o[at] = g0 / 4;
        o[at + stride] = -(g0 + g1 + g2) / 6;
        o[at + 2 * stride] = -(g0 - g1 + g2) / 6;
        o[at + 3 * stride] = g0 / 24 + g1 / 12 + g2 / 6;
        o[at + 4 * stride] = g0 / 24 - g1 / 12 + g2 / 6;
        o[at + 5 * stride] = g2;
    }

    public static void Forward(ConvGeom g, float[] xs, int xo, float[] u, float[] ys)
    {
        int th = (g.Ho + 3) / 4, tw = (g.Wo + 3) / 4, tiles = th * tw;
        // the 36 planes a tile is written to (and read from) lie a cache line apart from a power of two, so
        // that the 36 streams do not all fall on one cache set
        long sv = (long)g.C * tiles + 16, sm = (long)g.O * tiles + 16;
        var v = Scratch.Rent((int)(36 * sv));
        var m = Scratch.Rent((int)(36 * sm));
        try
        {
            fixed (float* px = xs, pu = u, py = ys, pv = v, pm = m)
            {
                float* x0 = px + xo, u0 = pu, y0 = py, v0 = pv, m0 = pm;
                for (int n = 0; n < g.N; n++)
                {
                    InputTransform(g, x0 + (long)n * g.C * g.H * g.W, v0, sv, th, tw);
                    BatchedGemm.Run(36, g.O, tiles, g.C, u0, (long)g.O * g.C, v0, sv, m0, sm);
                    OutputTransform(g, m0, sm, y0 + (long)n * g.O * g.Ho * g.Wo, th, tw);
                }
            }
        }
        finally
        {
            Scratch.Return(v);
            Scratch.Return(m);
        }
    }

    /// <summary>
    /// V[xi, c, tile] = (B^T d B)[xi] for each 6x6 patch d at (4ty - ph, 4tx - pw), zero outside; each plane
    /// is copied into a zero-padded buffer first, and eight tiles go at once with AVX2.
    /// </summary>
    static void InputTransform(ConvGeom g, float* x, float* v, long plane, int th, int tw)
    {
        int h = g.H, w = g.W, ph = g.Ph, pw = g.Pw, tiles = th * tw;
        int hp = 4 * th + 2, wp = 4 * tw + 4; // +4: the eight-tile loads read columns 4tx .. 4tx + 35
        Engine.For(g.C, (long)tiles * 160, (c0, c1) =>
        {
            var pad = new float[hp * wp];
            fixed (float* pd = pad)
                for (int c = c0; c < c1; c++)
                {
                    float* src = x + (long)c * h * w;
                    int n = Math.Min(w, wp - pw);
                    for (int r = 0; r < h && r + ph < hp; r++)
                        new ReadOnlySpan<float>(src + (long)r * w, n).CopyTo(new Span<float>(pd + (r + ph) * wp + pw, n));
                    float* dst = v + (long)c * tiles;
                    for (int ty = 0; ty < th; ty++)
                    {
                        int tx = 0;
                        if (Avx2.IsSupported)
                            for (; tx + 8 <= tw; tx += 8) InputTiles8(pd + 4 * ty * wp + 4 * tx, wp, dst + ty * tw + tx, plane);
                        for (; tx < tw; tx++) InputTile(pd + 4 * ty * wp + 4 * tx, wp, dst + ty * tw + tx, plane);
                    }
                }
        });
    }

    // B^T = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]]
    static void BT(float d0, float d1, float d2, float d3, float d4, float d5, Span<float> o, int at, int stride)
    {
        o[at] = 4 * d0 - 5 * d2 + d4;
        o[at + stride] = d3 + d4 - 4 * (d1 + d2);
        o[at + 2 * stride] = d4 - d3 + 4 * (d1 - d2);
        o[at + 3 * stride] = d4 - d2 + 2 * (d3 - d1);
        o[at + 4 * stride] = d4 - d2 - 2 * (d3 - d1);
        o[at + 5 * stride] = 4 * d1 - 5 * d3 + d5;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) BT(
        Vector256<float> d0, Vector256<float> d1, Vector256<float> d2, Vector256<float> d3, Vector256<float> d4, Vector256<float> d5)
    {
        var four = Vector256.Create(4f); var two = Vector256.Create(2f); var five = Vector256.Create(5f);
        return (four * d0 - five * d2 + d4, d3 + d4 - four * (d1 + d2), d4 - d3 + four * (d1 - d2),
            d4 - d2 + two * (d3 - d1), d4 - d2 - two * (d3 - d1), four * d1 - five * d3 + d5);
    }

    static void InputTile(float* p, int wp, float* o, long plane)
    {
        Span<float> t = stackalloc float[36], r = stackalloc float[36];
        for (int i = 0; i < 6; i++) // rows: d B
            BT(p[i * wp], p[i * wp + 1], p[i * wp + 2], p[i * wp + 3], p[i * wp + 4], p[i * wp + 5], t, 6 * i, 1);
        for (int k = 0; k < 6; k++) // columns: B^T (d B)
            BT(t[k], t[6 + k], t[12 + k], t[18 + k], t[24 + k], t[30 + k], r, k, 6);
        for (int xi = 0; xi < 36; xi++) o[xi * plane] = r[xi];
    }

    static void InputTiles8(float* p, int wp, float* o, long plane)
    {
        var rows = stackalloc Vector256<float>[36];
        for (int i = 0; i < 6; i++)
        {
            var (c0, c1, c2, c3) = Deinterleave4(p + i * wp);     // columns 0-3 of eight tiles
            var (c4, c5, _, _) = Deinterleave4(p + i * wp + 4); // columns 4-5
            var (e0, e1, e2, e3, e4, e5) = BT(c0, c1, c2, c3, c4, c5);
            rows[6 * i] = e0; rows[6 * i + 1] = e1; rows[6 * i + 2] = e2; rows[6 * i + 3] = e3; rows[6 * i + 4] = e4; rows[6 * i + 5] = e5;
        }
        for (int k = 0; k < 6; k++)
        {
            var (f0, f1, f2, f3, f4, f5) = BT(rows[k], rows[6 + k], rows[12 + k], rows[18 + k], rows[24 + k], rows[30 + k]);
            Avx.Store(o + k * plane, f0); Avx.Store(o + (6 + k) * plane, f1); Avx.Store(o + (12 + k) * plane, f2);
            Avx.Store(o + (18 + k) * plane, f3); Avx.Store(o + (24 + k) * plane, f4); Avx.Store(o + (30 + k) * plane, f5);
        }
    }

    /// <summary>Of 32 floats p[4t + j] (t, j &lt; 8, 4), the four vectors c_j[t].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Deinterleave4(float* p)
    {
        var idx = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        // each to (t j0, t' j0, t j1, t' j1, ...): 64-bit lane j holds column j of its two tiles
        var b0 = Avx2.PermuteVar8x32(Avx.LoadVector256(p), idx).AsDouble();
        var b1 = Avx2.PermuteVar8x32(Avx.LoadVector256(p + 8), idx).AsDouble();
        var b2 = Avx2.PermuteVar8x32(Avx.LoadVector256(p + 16), idx).AsDouble();
        var b3 = Avx2.PermuteVar8x32(Avx.LoadVector256(p + 24), idx).AsDouble();
        return Transpose4x64(b0, b1, b2, b3);
    }

    /// <summary>The 4 x 4 transpose of 64-bit lanes (its own inverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Transpose4x64(
        Vector256<double> b0, Vector256<double> b1, Vector256<double> b2, Vector256<double> b3)
    {
        var u0 = Avx.UnpackLow(b0, b1); var u1 = Avx.UnpackHigh(b0, b1);
        var u2 = Avx.UnpackLow(b2, b3); var u3 = Avx.UnpackHigh(b2, b3);
        return (Avx.Permute2x128(u0, u2, 0x20).AsSingle(), Avx.Permute2x128(u1, u3, 0x20).AsSingle(),
            Avx.Permute2x128(u0, u2, 0x31).AsSingle(), Avx.Permute2x128(u1, u3, 0x31).AsSingle());
    }

    /// <summary>Writes p[4t + j] = y_j[t] for eight tiles (the inverse of <see cref="Deinterleave4"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Interleave4(float* p, Vector256<float> y0, Vector256<float> y1, Vector256<float> y2, Vector256<float> y3)
    {
        var (b0, b1, b2, b3) = Transpose4x64(y0.AsDouble(), y1.AsDouble(), y2.AsDouble(), y3.AsDouble());
        var idx = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
        Avx.Store(p, Avx2.PermuteVar8x32(b0, idx)); Avx.Store(p + 8, Avx2.PermuteVar8x32(b1, idx));
        Avx.Store(p + 16, Avx2.PermuteVar8x32(b2, idx)); Avx.Store(p + 24, Avx2.PermuteVar8x32(b3, idx));
    }

    /// <summary>y = A^T m A per tile, A^T = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]], into a padded plane whose valid part is copied out.</summary>
    static void OutputTransform(ConvGeom g, float* m, long plane, float* y, int th, int tw)
    {
        int ho = g.Ho, wo = g.Wo, tiles = th * tw, wp = 4 * tw;
        bool whole = ho == 4 * th && wo == wp; // the tiles cover the output exactly: written in place, not through a buffer
        Engine.For(g.O, (long)tiles * 100, (o0, o1) =>
        {
            var pad = whole ? null : new float[4 * th * wp];
            fixed (float* pd = pad)
                for (int o = o0; o < o1; o++)
                {
                    float* src = m + (long)o * tiles, dst = y + (long)o * ho * wo, tilesAt = whole ? dst : pd;
                    for (int ty = 0; ty < th; ty++)
                    {
                        int tx = 0;
                        float* row = tilesAt + 4 * ty * wp;
                        if (Avx2.IsSupported)
                            for (; tx + 8 <= tw; tx += 8) OutputTiles8(src + ty * tw + tx, plane, row + 4 * tx, wp);
                        for (; tx < tw; tx++) OutputTile(src + ty * tw + tx, plane, row + 4 * tx, wp);
                    }
                    if (!whole)
                        for (int r = 0; r < ho; r++)
                            new ReadOnlySpan<float>(pd + r * wp, wo).CopyTo(new Span<float>(dst + (long)r * wo, wo));
                }
        });
    }

    static void AT(float v0, float v1, float v2, float v3, float v4, float v5, Span<float> o, int at, int stride)
    {
        float s12 = v1 + v2, d12 = v1 - v2, s34 = v3 + v4, d34 = v3 - v4;
        o[at] = v0 + s12 + s34;
        o[at + stride] = d12 + 2 * d34;
        o[at + 2 * stride] = s12 + 4 * s34;
        o[at + 3 * stride] = d12 + 8 * d34 + v5;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) AT(
        Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3, Vector256<float> v4, Vector256<float> v5)
    {
        var s12 = v1 + v2; var d12 = v1 - v2; var s34 = v3 + v4; var d34 = v3 - v4;
        return (v0 + s12 + s34, d12 + Vector256.Create(2f) * d34, s12 + Vector256.Create(4f) * s34, d12 + Vector256.Create(8f) * d34 + v5);
    }

    static void OutputTile(float* s, long plane, float* out0, int wp)
    {
        Span<float> t = stackalloc float[24], r = stackalloc float[16];
        for (int k = 0; k < 6; k++) // rows: A^T m, column k
            AT(s[k * plane], s[(6 + k) * plane], s[(12 + k) * plane], s[(18 + k) * plane], s[(24 + k) * plane], s[(30 + k) * plane], t, k, 6);
        for (int i = 0; i < 4; i++) // columns: (A^T m) A
            AT(t[6 * i], t[6 * i + 1], t[6 * i + 2], t[6 * i + 3], t[6 * i + 4], t[6 * i + 5], r, 4 * i, 1);
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 4; k++) out0[i * wp + k] = r[4 * i + k];
    }

    static void OutputTiles8(float* s, long plane, float* out0, int wp)
    {
        var t = stackalloc Vector256<float>[24];
        for (int k = 0; k < 6; k++)
        {
            Vector256<float> L(int xi) => Avx.LoadVector256(s + xi * plane);
            var (a0, a1, a2, a3) = AT(L(k), L(6 + k), L(12 + k), L(18 + k), L(24 + k), L(30 + k));
            t[k] = a0; t[6 + k] = a1; t[12 + k] = a2; t[18 + k] = a3;
        }
        for (int i = 0; i < 4; i++)
        {
            var (y0, y1, y2, y3) = AT(t[6 * i], t[6 * i + 1], t[6 * i + 2], t[6 * i + 3], t[6 * i + 4], t[6 * i + 5]);
            Interleave4(out0 + i * wp, y0, y1, y2, y3);
        }
    }
}
