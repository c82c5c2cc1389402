using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HieraRS.Tensors;

/// <summary>Small fused SIMD kernels that System.Numerics.Tensors does not offer directly.</summary>
public static class SpanMath
{
    /// <summary>Even and odd lanes of the 16 floats at p: (p[0], p[2], ..., p[14]) and (p[1], ..., p[15]).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static unsafe (Vector256<float> Even, Vector256<float> Odd) Deinterleave(float* p)
    {
        var a = Avx.LoadVector256(p); var b = Avx.LoadVector256(p + 8);
        var e = Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble();
        var o = Avx.Shuffle(a, b, 0b11_01_11_01).AsDouble();
        return (Avx2.Permute4x64(e, 0b11_01_10_00).AsSingle(), Avx2.Permute4x64(o, 0b11_01_10_00).AsSingle());
    }

    /// <summary>dst = src * scale + shift.</summary>
    public static void ScaleShift(ReadOnlySpan<float> src, float scale, float shift, Span<float> dst)
    {
        int n = src.Length, i = 0;
        ref float s = ref MemoryMarshal.GetReference(src);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(scale); var b = Vector256.Create(shift);
            for (; i <= n - 8; i += 8)
                Vector256.StoreUnsafe(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref s, (nuint)i), a, b), ref d, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i) * scale + shift;
    }

    /// <summary>dst = x * a + y * b, one pass (bilinear interpolation's blend of two rows).</summary>
    public static void Blend(ReadOnlySpan<float> x, float a, ReadOnlySpan<float> y, float b, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        if (x.Length < n || y.Length < n) throw new ArgumentException("Blend: sources shorter than the destination");
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a); var vb = Vector512.Create(b);
            for (; i <= n - 16; i += 16)
                Vector512.StoreUnsafe(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref py, (nuint)i), vb, Vector512.LoadUnsafe(ref px, (nuint)i) * va), ref d, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8)
                Vector256.StoreUnsafe(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref py, (nuint)i), vb, Vector256.LoadUnsafe(ref px, (nuint)i) * va), ref d, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref py, i), b, Unsafe.Add(ref px, i) * a);
    }

    /// <summary>dst[j] = x[i0[j]] * a0[j] + x[i1[j]] * a1[j] (bilinear interpolation along a row; indices within x).</summary>
    public static unsafe void Gather2(ReadOnlySpan<float> x, int[] i0, float[] a0, int[] i1, float[] a1, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        if (i0.Length < n || i1.Length < n || a0.Length < n || a1.Length < n) throw new ArgumentException("Gather2: tables shorter than the destination");
        fixed (float* px = x, pa0 = a0, pa1 = a1, pd = dst)
        fixed (int* pi0 = i0, pi1 = i1)
        {
            if (Avx2.IsSupported && Fma.IsSupported)
                for (; i <= n - 8; i += 8)
                {
                    var v0 = Avx2.GatherVector256(px, Avx.LoadVector256(pi0 + i), 4);
                    var v1 = Avx2.GatherVector256(px, Avx.LoadVector256(pi1 + i), 4);
                    Avx.Store(pd + i, Fma.MultiplyAdd(v1, Avx.LoadVector256(pa1 + i), Avx.Multiply(v0, Avx.LoadVector256(pa0 + i))));
                }
            for (; i < n; i++) pd[i] = MathF.FusedMultiplyAdd(px[pi1[i]], pa1[i], px[pi0[i]] * pa0[i]);
        }
    }

    /// <summary>dst = x * a + (y - shift) * b + c. Centring y first keeps (y - shift) exact-ish where y sits
    /// far from zero, so the b-term does not cancel against c (batch-norm backward with a large mean).</summary>
    public static void AxpbyCentered(ReadOnlySpan<float> x, float a, ReadOnlySpan<float> y, float shift, float b, float c, Span<float> dst)
    {
        int n = x.Length, i = 0;
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b); var vc = Vector256.Create(c); var vs = Vector256.Create(shift);
            for (; i <= n - 8; i += 8)
            {
                var t = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i), va, vc);
                Vector256.StoreUnsafe(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref py, (nuint)i) - vs, vb, t), ref d, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref px, i) * a + (Unsafe.Add(ref py, i) - shift) * b + c;
    }

    /// <summary>dst = y &gt; 0 ? g : 0 (ReLU backward from the output).</summary>
    public static void PassWherePositive(ReadOnlySpan<float> g, ReadOnlySpan<float> y, Span<float> dst)
    {
        int n = g.Length, i = 0;
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var mask = Vector256.GreaterThan(Vector256.LoadUnsafe(ref py, (nuint)i), Vector256<float>.Zero);
                Vector256.StoreUnsafe(Vector256.BitwiseAnd(Vector256.LoadUnsafe(ref pg, (nuint)i), mask), ref d, (nuint)i);
            }
        for (; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref py, i) > 0 ? Unsafe.Add(ref pg, i) : 0f;
    }

    /// <summary>Sum of (x - shift)^2 in double, for variances without cancellation.</summary>
    public static double SumSquaredDeviation(ReadOnlySpan<float> x, float shift)
    {
        int n = x.Length, i = 0;
        ref float px = ref MemoryMarshal.GetReference(x);
        double total = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(shift);
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var d = Vector256.LoadUnsafe(ref px, (nuint)i) - m;
                acc = Vector256.FusedMultiplyAdd(d, d, acc);
                if ((i & 1023) == 1016) { total += Vector256.Sum(acc); acc = Vector256<float>.Zero; }
            }
            total += Vector256.Sum(acc);
        }
        for (; i < n; i++) { double d = Unsafe.Add(ref px, i) - shift; total += d * d; }
        return total;
    }

    /// <summary>Sum in double over float blocks (vectorised within a block).</summary>
    public static double SumDouble(ReadOnlySpan<float> x)
    {
        double total = 0;
        for (int i = 0; i < x.Length; i += 1024) total += TensorPrimitives.Sum(x.Slice(i, Math.Min(1024, x.Length - i)));
        return total;
    }

    /// <summary>Dot product in double over float blocks.</summary>
    public static double DotDouble(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double total = 0;
        for (int i = 0; i < x.Length; i += 1024)
        {
            int n = Math.Min(1024, x.Length - i);
            total += TensorPrimitives.Dot(x.Slice(i, n), y.Slice(i, n));
        }
        return total;
    }
}
