using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using HieraRS.Tensors.Native;

namespace HieraRS.Tensors;

/// <summary>Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C.</summary>
public static unsafe class Gemm
{
    public static void Run(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (k == 0) { ScaleRows(c, m, n, ldc, beta); return; }
        long t0 = Profiler.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        RunCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (Profiler.Enabled) Profiler.Add("(gemm inside ops)", System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }

    static void RunCore(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (Engine.Backend == GemmBackend.Managed)
        {
            Managed(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
            OpenBlas.cblas_sgemm(OpenBlas.RowMajor, transA ? OpenBlas.Trans : OpenBlas.NoTrans,
                transB ? OpenBlas.Trans : OpenBlas.NoTrans, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }

    static void ScaleRows(Span<float> c, int m, int n, int ldc, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear(); else TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>Managed SIMD fallback: packs op(A) and op(B) row-major, then row-parallel FMA over k.</summary>
    static void Managed(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        float[] pa = Pack(a, transA, m, k, lda), pb = Pack(b, transB, k, n, ldb);
        ScaleRows(c, m, n, ldc, beta);
        fixed (float* pc0 = c)
        {
            float* pc = pc0;
            const int NBlock = 1024;
            Engine.For(m, (long)n * k, (r0, r1) =>
            {
                for (int j0 = 0; j0 < n; j0 += NBlock)
                {
                    int nb = Math.Min(NBlock, n - j0);
                    for (int i = r0; i < r1; i++)
                    {
                        var crow = new Span<float>(pc + (long)i * ldc + j0, nb);
                        for (int p = 0; p < k; p++)
                        {
                            float av = alpha * pa[(long)i * k + p];
                            if (av == 0) continue;
                            TensorPrimitives.MultiplyAdd(pb.AsSpan(p * n + j0, nb), av, crow, crow);
                        }
                    }
                }
            });
        }
    }

    static float[] Pack(ReadOnlySpan<float> src, bool trans, int rows, int cols, int ld)
    {
        var dst = GC.AllocateUninitializedArray<float>(rows * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                dst[r * cols + c] = trans ? src[c * ld + r] : src[r * ld + c];
        return dst;
    }
}

/// <summary>
/// Many small products at once: C_i = A_i B_i for i &lt; count, row-major, A_i [m x k], B_i [k x n],
/// C_i [m x n] overwritten, the matrices of each operand at a fixed stride. Winograd's 16 or 36 products
/// per convolution are of this kind ([O x C] x [C x tiles], C and O 64-512): OpenBLAS reaches 40-70 GFLOP/s
/// on them on two cores, packing both operands and clearing C for every call (measured), where one
/// parallel loop over (product, column block) with a register-blocked kernel needs neither: A_i stays in
/// cache across a block, and a block's columns of B_i across A_i's rows.
/// </summary>
public static unsafe class BatchedGemm
{
    const int Rows = 4, BlockColumns = 256;

    public static void Run(int count, int m, int n, int k, float* a, long strideA, float* b, long strideB, float* c, long strideC)
    {
        if (count <= 0 || m <= 0 || n <= 0) return;
        long t0 = Profiler.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        int blocks = (n + BlockColumns - 1) / BlockColumns;
        Engine.For(count * blocks, 2L * m * Math.Min(n, BlockColumns) * k, (w0, w1) =>
        {
            for (int w = w0; w < w1; w++)
            {
                int i = w / blocks, j0 = w % blocks * BlockColumns, j1 = Math.Min(n, j0 + BlockColumns);
                Block(m, n, k, a + i * strideA, b + i * strideB + j0, c + i * strideC + j0, j1 - j0);
            }
        });
        if (Profiler.Enabled) Profiler.Add("(gemm inside ops)", System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }

    [ThreadStatic] static float[]? panels;

    /// <summary>
    /// Columns [0, cols) of C = A B, where b and c point at the block's first column (row strides n). The
    /// block of B is first copied panel by panel ([k x 16 or 32] each, contiguous): rows of B a power of
    /// two apart would fall into the same cache sets (measured: slower than OpenBLAS at k = 256 without).
    /// </summary>
    static void Block(int m, int n, int k, float* a, float* b, float* c, int cols)
    {
        int width = PanelWidth, full = Vector256.IsHardwareAccelerated ? cols / width * width : 0;
        if (full > 0)
        {
            if (panels is null || panels.Length < k * full) panels = new float[k * Math.Max(full, BlockColumns)];
            fixed (float* pp = panels)
            {
                for (int j = 0; j < full; j += width)
                    for (int p = 0; p < k; p++)
                    {
                        float* from = b + (long)p * n + j, to = pp + (long)j * k + p * width;
                        for (int q = 0; q < width; q += 8) Vector256.Store(Vector256.Load(from + q), to + q);
                    }
                for (int j = 0; j < full; j += width) Panel(m, k, a, pp + (long)j * k, width, c + j, n);
            }
        }
        if (full < cols)
            for (int r = 0; r < m; r++) Row(k, a + (long)r * k, b + full, n, c + (long)r * n + full, cols - full);
    }

    /// <summary>Columns of a packed panel: two vectors of the widest the machine runs.</summary>
    internal static int PanelWidth => Vector512.IsHardwareAccelerated ? 32 : 16;

    /// <summary>C [m x width] = A [m x k] times one packed panel [k x width] (<see cref="PanelWidth"/>), C's rows ldc apart.</summary>
    internal static void Panel(int m, int k, float* a, float* panel, int width, float* c, int ldc)
    {
        int r = 0;
        if (width == 32) for (; r + 8 <= m; r += 8) Kernel8x32(k, a + (long)r * k, panel, c + (long)r * ldc, ldc);
        for (; r + Rows <= m; r += Rows)
            if (width == 32) Kernel4x32(k, a + (long)r * k, panel, c + (long)r * ldc, ldc);
            else Kernel4x16(k, a + (long)r * k, panel, c + (long)r * ldc, ldc);
        for (; r < m; r++) Row(k, a + (long)r * k, panel, width, c + (long)r * ldc, width);
    }

    /// <summary>Eight rows: 16 accumulators of the 32 vector registers, 10 loads for 16 FMAs per step.</summary>
    static void Kernel8x32(int k, float* a, float* b, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        float* a0 = a, a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k, a4 = a + 4 * k, a5 = a + 5 * k, a6 = a + 6 * k, a7 = a + 7 * k;
        for (nint p = 0; p < k; p++, b += 32) // nint and row pointers: no index arithmetic in the loop
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var v = Vector512.Create(a0[p]); c00 = Vector512.FusedMultiplyAdd(v, b0, c00); c01 = Vector512.FusedMultiplyAdd(v, b1, c01);
            v = Vector512.Create(a1[p]); c10 = Vector512.FusedMultiplyAdd(v, b0, c10); c11 = Vector512.FusedMultiplyAdd(v, b1, c11);
            v = Vector512.Create(a2[p]); c20 = Vector512.FusedMultiplyAdd(v, b0, c20); c21 = Vector512.FusedMultiplyAdd(v, b1, c21);
            v = Vector512.Create(a3[p]); c30 = Vector512.FusedMultiplyAdd(v, b0, c30); c31 = Vector512.FusedMultiplyAdd(v, b1, c31);
            v = Vector512.Create(a4[p]); c40 = Vector512.FusedMultiplyAdd(v, b0, c40); c41 = Vector512.FusedMultiplyAdd(v, b1, c41);
            v = Vector512.Create(a5[p]); c50 = Vector512.FusedMultiplyAdd(v, b0, c50); c51 = Vector512.FusedMultiplyAdd(v, b1, c51);
            v = Vector512.Create(a6[p]); c60 = Vector512.FusedMultiplyAdd(v, b0, c60); c61 = Vector512.FusedMultiplyAdd(v, b1, c61);
            v = Vector512.Create(a7[p]); c70 = Vector512.FusedMultiplyAdd(v, b0, c70); c71 = Vector512.FusedMultiplyAdd(v, b1, c71);
        }
        c00.Store(c); c01.Store(c + 16); c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16); c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16); c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16); c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
    }

    static void Kernel4x32(int k, float* a, float* b, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        float* r0 = a, r1 = a + k, r2 = a + 2 * k, r3 = a + 3 * k;
        for (nint p = 0; p < k; p++, b += 32)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(r0[p]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(r1[p]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(r2[p]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(r3[p]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
        }
        c00.Store(c); c01.Store(c + 16);
        c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
    }

    static void Kernel4x16(int k, float* a, float* b, float* c, int ldc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        float* r0 = a, r1 = a + k, r2 = a + 2 * k, r3 = a + 3 * k;
        for (nint p = 0; p < k; p++, b += 16)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(r0[p]); c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(r1[p]); c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(r2[p]); c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(r3[p]); c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
        }
        c00.Store(c); c01.Store(c + 8);
        c10.Store(c + ldc); c11.Store(c + ldc + 8);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 8);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 8);
    }

    /// <summary>One row of C over <paramref name="cols"/> columns (the edges the kernels leave).</summary>
    static void Row(int k, float* a, float* b, int ldb, float* c, int cols)
    {
        var row = new Span<float>(c, cols);
        row.Clear();
        for (int p = 0; p < k; p++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)p * ldb, cols), a[p], row, row);
    }
}
