using System.Numerics.Tensors;
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
