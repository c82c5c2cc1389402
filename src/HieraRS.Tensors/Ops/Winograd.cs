using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HieraRS.Tensors;

/// <summary>
/// Winograd F(2x2, 3x3) for 3x3 stride-1 undilated dense convolutions: each 2x2 output tile takes
/// 16 multiplies per channel pair instead of 36, as 16 GEMMs [O x C] x [C x tiles] between an input
/// transform (B^T d B) and an output transform (A^T m A). It serves the forward pass and, through the
/// flipped-kernel formulation, the input gradient.
/// </summary>
internal static unsafe class Winograd
{
    public static bool Eligible(in ConvGeom g) => Engine.Winograd &&
        g.Kh == 3 && g.Kw == 3 && g.Sh == 1 && g.Sw == 1 && g.Dh == 1 && g.Dw == 1 && g.Groups == 1 && g.C >= 16 && g.O >= 16
        && g.Ho * g.Wo >= 1024; // on small maps the transforms and small GEMMs cost more than they save (measured)

    /// <summary>U[xi, o, c] = (G w[o, c] G^T)[xi], G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]].</summary>
    public static float[] TransformWeights(in ConvGeom g, float[] ws, int wo)
    {
        int oc = g.O * g.C;
        var u = new float[16 * oc];
        var geom = g;
        Engine.For(oc, 64, (p0, p1) =>
        {
            Span<float> s = stackalloc float[12];
            for (int p = p0; p < p1; p++)
            {
                int b = wo + p * 9;
                for (int j = 0; j < 3; j++)
                {
                    float g0 = ws[b + j], g1 = ws[b + 3 + j], g2 = ws[b + 6 + j];
                    s[j] = g0; s[3 + j] = 0.5f * (g0 + g1 + g2); s[6 + j] = 0.5f * (g0 - g1 + g2); s[9 + j] = g2;
                }
                for (int i = 0; i < 4; i++)
                {
                    float a0 = s[3 * i], a1 = s[3 * i + 1], a2 = s[3 * i + 2];
                    u[(i * 4 + 0) * oc + p] = a0;
                    u[(i * 4 + 1) * oc + p] = 0.5f * (a0 + a1 + a2);
                    u[(i * 4 + 2) * oc + p] = 0.5f * (a0 - a1 + a2);
                    u[(i * 4 + 3) * oc + p] = a2;
                }
            }
        });
        return u;
    }

    /// <param name="u">the weights' transform (<see cref="TransformWeights"/>).</param>
    public static void Forward(ConvGeom g, float[] xs, int xo, float[] u, float[] ys) => Images(g, xs, xo, u, ys, 0, g.N);

    static void Images(ConvGeom g, float[] xs, int xo, float[] u, float[] ys, int i0, int i1)
    {
        int th = (g.Ho + 1) / 2, tw = (g.Wo + 1) / 2, tpi = th * tw;
        int nb = ImagesPerChunk(g, tpi, i1 - i0);
        long sv = PlaneStride(g.C, nb * tpi), sm = PlaneStride(g.O, nb * tpi);
        var v = Scratch.Rent((int)(16 * sv));
        var m = Scratch.Rent((int)(16 * sm));
        try
        {
            fixed (float* px = xs, pu = u, py = ys, pv = v, pm = m)
            {
                float* x0 = px + xo, u0 = pu, y0 = py, v0 = pv, m0 = pm;
                for (int n0 = i0; n0 < i1; n0 += nb)
                {
                    int cnt = Math.Min(nb, i1 - n0), tiles = cnt * tpi;
                    long pv1 = PlaneStride(g.C, tiles), pm1 = PlaneStride(g.O, tiles);
                    InputTransform(g, x0, n0, cnt, v0, pv1, tiles, th, tw);
                    BatchedGemm.Run(16, g.O, tiles, g.C, u0, (long)g.O * g.C, v0, pv1, m0, pm1);
                    OutputTransform(g, m0, pm1, n0, cnt, y0, tiles, th, tw);
                }
            }
        }
        finally
        {
            Scratch.Return(v);
            Scratch.Return(m);
        }
    }

    /// <summary>The distance between transformed planes: a cache line past their size, so that the 16 streams of a tile's values do not share one cache set.</summary>
    static long PlaneStride(int channels, int tiles) => (long)channels * tiles + 16;

    /// <summary>Images per chunk: about 1024 tiles per GEMM, transformed buffers bounded to 64 MB each.</summary>
    static int ImagesPerChunk(in ConvGeom g, int tpi, int count)
    {
        int nb = Math.Clamp((1024 + tpi - 1) / tpi, 1, Math.Max(count, 1));
        while (nb > 1 && 16L * Math.Max(g.C, g.O) * nb * tpi > (16L << 20)) nb--;
        return nb;
    }

    /// <summary>
    /// Weight gradient through the same transforms: since y = A^T[(G w G^T) . (B^T d B)]A is linear in
    /// w, dW = G^T [sum over tiles of (A dY A^T) . (B^T d B)] G, i.e. 16 GEMMs [O x tiles] x [tiles x C].
    /// </summary>
    public static void WeightGrad(ConvGeom g, float[] xs, int xo, float[] gys, int gyo, float[] gws)
    {
        int oc = g.O * g.C;
        var u = new float[16 * oc];
        WeightGradImages(g, xs, xo, gys, gyo, u, 0, g.N);
        Engine.For(oc, 64, (p0, p1) =>
        {
            Span<float> t = stackalloc float[12];
            for (int q = p0; q < p1; q++)
            {
                // t = G^T dU (3x4), G^T = [[1,.5,.5,0],[0,.5,-.5,0],[0,.5,.5,1]]
                for (int k = 0; k < 4; k++)
                {
                    float a0 = u[(0 * 4 + k) * oc + q], a1 = u[(1 * 4 + k) * oc + q], a2 = u[(2 * 4 + k) * oc + q], a3 = u[(3 * 4 + k) * oc + q];
                    t[k] = a0 + 0.5f * (a1 + a2); t[4 + k] = 0.5f * (a1 - a2); t[8 + k] = 0.5f * (a1 + a2) + a3;
                }
                // dW = t G
                int b = q * 9;
                for (int i = 0; i < 3; i++)
                {
                    float a0 = t[4 * i], a1 = t[4 * i + 1], a2 = t[4 * i + 2], a3 = t[4 * i + 3];
                    gws[b + 3 * i] += a0 + 0.5f * (a1 + a2);
                    gws[b + 3 * i + 1] += 0.5f * (a1 - a2);
                    gws[b + 3 * i + 2] += 0.5f * (a1 + a2) + a3;
                }
            }
        });
    }

    static void WeightGradImages(ConvGeom g, float[] xs, int xo, float[] gys, int gyo, float[] du, int i0, int i1)
    {
        int th = (g.Ho + 1) / 2, tw = (g.Wo + 1) / 2, tpi = th * tw;
        int nb = ImagesPerChunk(g, tpi, i1 - i0);
        var v = Scratch.Rent((int)(16 * PlaneStride(g.C, nb * tpi)));
        var m = Scratch.Rent((int)(16 * PlaneStride(g.O, nb * tpi)));
        try
        {
            fixed (float* px = xs, pgy = gys, pv = v, pm = m, pu = du)
            {
                float* x0 = px + xo, gy0 = pgy + gyo, v0 = pv, m0 = pm, u0 = pu;
                for (int n0 = i0; n0 < i1; n0 += nb)
                {
                    int cnt = Math.Min(nb, i1 - n0), tiles = cnt * tpi;
                    long pv1 = PlaneStride(g.C, tiles), pm1 = PlaneStride(g.O, tiles);
                    InputTransform(g, x0, n0, cnt, v0, pv1, tiles, th, tw);
                    GradTransform(g, gy0, n0, cnt, m0, pm1, tiles, th, tw);
                    for (int xi = 0; xi < 16; xi++)
                        Gemm.Run(false, true, g.O, g.C, tiles, 1f,
                            new ReadOnlySpan<float>(m0 + xi * pm1, g.O * tiles), tiles,
                            new ReadOnlySpan<float>(v0 + xi * pv1, g.C * tiles), tiles, 1f,
                            new Span<float>(u0 + (long)xi * g.O * g.C, g.O * g.C), g.C);
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
    /// M[xi, o, tile] = (A dy A^T)[xi] for each 2x2 output-gradient tile, A = [[1,0],[1,1],[1,-1],[0,-1]];
    /// planes are copied into a zero-padded 2th x 2tw buffer, then eight tiles go at once with AVX2.
    /// </summary>
    static void GradTransform(ConvGeom g, float* gy0, int n0, int cnt, float* m, long plane, int tiles, int th, int tw)
    {
        int ho = g.Ho, wo = g.Wo, o = g.O, tpi = th * tw, wp = 2 * tw;
        Engine.For(cnt * o, (long)tpi * 24, (q0, q1) =>
        {
            var pad = new float[2 * th * wp];
            fixed (float* pd = pad)
                for (int q = q0; q < q1; q++)
                {
                    int j = q / o, oc = q % o;
                    float* src = gy0 + ((long)(n0 + j) * o + oc) * ho * wo;
                    if (wo != wp || ho != 2 * th) Array.Clear(pad);
                    for (int r = 0; r < ho; r++)
                        new ReadOnlySpan<float>(src + (long)r * wo, wo).CopyTo(new Span<float>(pd + r * wp, wo));
                    float* dst = m + (long)oc * tiles + j * tpi;
                    for (int ty = 0; ty < th; ty++)
                    {
                        float* row = pd + 2 * ty * wp;
                        int tx = 0;
                        if (Avx2.IsSupported)
                            for (; tx + 8 <= tw; tx += 8)
                            {
                                var (a0, a1) = SpanMath.Deinterleave(row + 2 * tx);      // y00, y01 of eight tiles
                                var (b0, b1) = SpanMath.Deinterleave(row + wp + 2 * tx); // y10, y11
                                float* d = dst + ty * tw + tx;
                                GradCols8(d, plane, 0, a0, a1);
                                GradCols8(d, plane, 4, a0 + b0, a1 + b1);
                                GradCols8(d, plane, 8, a0 - b0, a1 - b1);
                                GradCols8(d, plane, 12, -b0, -b1);
                            }
                        for (; tx < tw; tx++)
                        {
                            float* p = row + 2 * tx;
                            float y00 = p[0], y01 = p[1], y10 = p[wp], y11 = p[wp + 1];
                            // rows: A y -> (y0, y0 + y1, y0 - y1, -y1); then the columns the same way
                            float* d = dst + ty * tw + tx;
                            GradCols(d, plane, 0, y00, y01);
                            GradCols(d, plane, 4, y00 + y10, y01 + y11);
                            GradCols(d, plane, 8, y00 - y10, y01 - y11);
                            GradCols(d, plane, 12, -y10, -y11);
                        }
                    }
                }
        });
    }

    static void GradCols(float* d, long plane, int xi, float a, float b)
    {
        d[xi * plane] = a; d[(xi + 1) * plane] = a + b; d[(xi + 2) * plane] = a - b; d[(xi + 3) * plane] = -b;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void GradCols8(float* d, long plane, int xi, Vector256<float> a, Vector256<float> b)
    {
        Avx.Store(d + xi * plane, a); Avx.Store(d + (xi + 1) * plane, a + b);
        Avx.Store(d + (xi + 2) * plane, a - b); Avx.Store(d + (xi + 3) * plane, -b);
    }

    /// <summary>
    /// V[xi, c, tile] = (B^T d B)[xi] for each 4x4 input patch d at (2ty - ph, 2tx - pw), zero outside.
    /// Each plane is first copied into a zero-padded buffer so every patch load is in bounds; with AVX2,
    /// eight horizontally adjacent tiles are transformed at once (stride-2 loads by deinterleaving).
    /// </summary>
    static void InputTransform(ConvGeom g, float* x0, int n0, int cnt, float* v, long plane, int tiles, int th, int tw)
    {
        int h = g.H, w = g.W, ph = g.Ph, pw = g.Pw, c = g.C, tpi = th * tw;
        int hp = 2 * th + 2, wp = 2 * tw + 2;
        Engine.For(cnt * c, (long)tpi * 48, (q0, q1) =>
        {
            var pad = new float[hp * wp];
            fixed (float* pd = pad)
                for (int q = q0; q < q1; q++)
                {
                    int j = q / c, ch = q % c;
                    float* src = x0 + ((long)(n0 + j) * c + ch) * h * w;
                    Array.Clear(pad);
                    for (int r = 0; r < h; r++)
                    {
                        int pr = r + ph;
                        if (pr >= hp) break;
                        int n = Math.Min(w, wp - pw);
                        new ReadOnlySpan<float>(src + (long)r * w, n).CopyTo(new Span<float>(pd + pr * wp + pw, n));
                    }
                    float* dst = v + (long)ch * tiles + j * tpi;
                    for (int ty = 0; ty < th; ty++)
                    {
                        int tx = 0;
                        if (Avx2.IsSupported)
                            for (; tx + 8 <= tw; tx += 8) InputTiles8(pd + 2 * ty * wp + 2 * tx, wp, dst + ty * tw + tx, plane);
                        for (; tx < tw; tx++) InputTile(pd + 2 * ty * wp + 2 * tx, wp, dst + ty * tw + tx, plane);
                    }
                }
        });
    }

    static void InputTile(float* p, int wp, float* o, long plane)
    {
        float* d = stackalloc float[16];
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 4; k++) d[4 * r + k] = p[r * wp + k];
        // rows: B^T d, B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]
        float t00 = d[0] - d[8], t01 = d[1] - d[9], t02 = d[2] - d[10], t03 = d[3] - d[11];
        float t10 = d[4] + d[8], t11 = d[5] + d[9], t12 = d[6] + d[10], t13 = d[7] + d[11];
        float t20 = d[8] - d[4], t21 = d[9] - d[5], t22 = d[10] - d[6], t23 = d[11] - d[7];
        float t30 = d[4] - d[12], t31 = d[5] - d[13], t32 = d[6] - d[14], t33 = d[7] - d[15];
        // columns: (B^T d) B
        o[0] = t00 - t02; o[plane] = t01 + t02; o[2 * plane] = t02 - t01; o[3 * plane] = t01 - t03;
        o[4 * plane] = t10 - t12; o[5 * plane] = t11 + t12; o[6 * plane] = t12 - t11; o[7 * plane] = t11 - t13;
        o[8 * plane] = t20 - t22; o[9 * plane] = t21 + t22; o[10 * plane] = t22 - t21; o[11 * plane] = t21 - t23;
        o[12 * plane] = t30 - t32; o[13 * plane] = t31 + t32; o[14 * plane] = t32 - t31; o[15 * plane] = t31 - t33;
    }


    /// <summary>Column transform (d B) of one patch row for eight tiles: lanes are tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) RowTimesB(float* p)
    {
        var (d0, d1) = SpanMath.Deinterleave(p);     // columns 0 and 1 of each tile
        var (d2, d3) = SpanMath.Deinterleave(p + 2); // columns 2 and 3
        return (d0 - d2, d1 + d2, d2 - d1, d1 - d3);
    }

    static void InputTiles8(float* p, int wp, float* o, long plane)
    {
        var (a0, a1, a2, a3) = RowTimesB(p);
        var (b0, b1, b2, b3) = RowTimesB(p + wp);
        var (c0, c1, c2, c3) = RowTimesB(p + 2 * wp);
        var (e0, e1, e2, e3) = RowTimesB(p + 3 * wp);
        // rows: B^T (d B)
        Avx.Store(o, a0 - c0); Avx.Store(o + plane, a1 - c1); Avx.Store(o + 2 * plane, a2 - c2); Avx.Store(o + 3 * plane, a3 - c3);
        Avx.Store(o + 4 * plane, b0 + c0); Avx.Store(o + 5 * plane, b1 + c1); Avx.Store(o + 6 * plane, b2 + c2); Avx.Store(o + 7 * plane, b3 + c3);
        Avx.Store(o + 8 * plane, c0 - b0); Avx.Store(o + 9 * plane, c1 - b1); Avx.Store(o + 10 * plane, c2 - b2); Avx.Store(o + 11 * plane, c3 - b3);
        Avx.Store(o + 12 * plane, b0 - e0); Avx.Store(o + 13 * plane, b1 - e1); Avx.Store(o + 14 * plane, b2 - e2); Avx.Store(o + 15 * plane, b3 - e3);
    }

    /// <summary>
    /// y = A^T m A for each tile, A^T = [[1,1,1,0],[0,1,-1,-1]], into a padded 2th x 2tw plane whose
    /// valid part is then copied out (outputs past the map edge are dropped).
    /// </summary>
    static void OutputTransform(ConvGeom g, float* m, long plane, int n0, int cnt, float* y0, int tiles, int th, int tw)
    {
        int ho = g.Ho, wo = g.Wo, o = g.O, tpi = th * tw, wp = 2 * tw;
        Engine.For(cnt * o, (long)tpi * 32, (q0, q1) =>
        {
            var pad = new float[2 * th * wp];
            fixed (float* pd = pad)
                for (int q = q0; q < q1; q++)
                {
                    int j = q / o, oc = q % o;
                    float* src = m + (long)oc * tiles + j * tpi;
                    for (int ty = 0; ty < th; ty++)
                    {
                        int tx = 0;
                        float* row = pd + 2 * ty * wp;
                        if (Avx2.IsSupported)
                            for (; tx + 8 <= tw; tx += 8) OutputTiles8(src + ty * tw + tx, plane, row + 2 * tx, wp);
                        for (; tx < tw; tx++) OutputTile(src + ty * tw + tx, plane, row + 2 * tx, wp);
                    }
                    float* dst = y0 + ((long)(n0 + j) * o + oc) * ho * wo;
                    for (int r = 0; r < ho; r++)
                        new ReadOnlySpan<float>(pd + r * wp, wo).CopyTo(new Span<float>(dst + (long)r * wo, wo));
                }
        });
    }

    static void OutputTile(float* s, long plane, float* out0, int wp)
    {
        float m00 = s[0], m01 = s[plane], m02 = s[2 * plane], m03 = s[3 * plane];
        float m10 = s[4 * plane], m11 = s[5 * plane], m12 = s[6 * plane], m13 = s[7 * plane];
        float m20 = s[8 * plane], m21 = s[9 * plane], m22 = s[10 * plane], m23 = s[11 * plane];
        float m30 = s[12 * plane], m31 = s[13 * plane], m32 = s[14 * plane], m33 = s[15 * plane];
        float r00 = m00 + m10 + m20, r01 = m01 + m11 + m21, r02 = m02 + m12 + m22, r03 = m03 + m13 + m23;
        float r10 = m10 - m20 - m30, r11 = m11 - m21 - m31, r12 = m12 - m22 - m32, r13 = m13 - m23 - m33;
        out0[0] = r00 + r01 + r02; out0[1] = r01 - r02 - r03;
        out0[wp] = r10 + r11 + r12; out0[wp + 1] = r11 - r12 - r13;
    }

    static void OutputTiles8(float* s, long plane, float* out0, int wp)
    {
        Vector256<float> L(int xi) => Avx.LoadVector256(s + xi * plane);
        var r00 = L(0) + L(4) + L(8); var r01 = L(1) + L(5) + L(9); var r02 = L(2) + L(6) + L(10); var r03 = L(3) + L(7) + L(11);
        var r10 = L(4) - L(8) - L(12); var r11 = L(5) - L(9) - L(13); var r12 = L(6) - L(10) - L(14); var r13 = L(7) - L(11) - L(15);
        StoreInterleaved(out0, r00 + r01 + r02, r01 - r02 - r03);
        StoreInterleaved(out0 + wp, r10 + r11 + r12, r11 - r12 - r13);
    }

    /// <summary>Writes (a0, b0, a1, b1, ..., a7, b7) at p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreInterleaved(float* p, Vector256<float> a, Vector256<float> b)
    {
        var lo = Avx.UnpackLow(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5
        var hi = Avx.UnpackHigh(a, b); // a2 b2 a3 b3 | a6 b6 a7 b7
        Avx.Store(p, Avx.Permute2x128(lo, hi, 0x20));
        Avx.Store(p + 8, Avx.Permute2x128(lo, hi, 0x31));
    }
}
