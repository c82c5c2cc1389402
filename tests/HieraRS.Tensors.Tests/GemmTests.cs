using HieraRS.Tensors;

namespace HieraRS.Tensors.Tests;

[Collection("engine settings")]
[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class GemmTests
{
    static float[] Naive(bool ta, bool tb, int m, int n, int k, float[] a, float[] b, float alpha, float beta, float[] c0)
    {
        var c = (float[])c0.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = (float)(alpha * s + beta * c0[i * n + j]);
            }
        return c;
    }

    [Theory]
    [InlineData(3, 37, 1100, 29)]  // rows past the 4-row kernel, columns past the 32- and 16-wide panels
    [InlineData(2, 64, 1024, 256)] // a Winograd product at 128 x 128 (rows of B 4 KB apart)
    [InlineData(4, 5, 7, 3)]       // narrower than a panel: the edge loop only
    public unsafe void BatchedProductsMatchNaiveProducts(int count, int m, int n, int k)
    {
        var g = new Generator(4);
        long sa = m * k + 3, sb = k * n + 5, sc = m * n + 7; // strides longer than the matrices, as Winograd's padded planes
        var a = Tensor.Randn([(int)(count * sa)], g).ToArray(); var b = Tensor.Randn([(int)(count * sb)], g).ToArray();
        var c = Enumerable.Repeat(float.NaN, (int)(count * sc)).ToArray(); // every element must be written
        fixed (float* pa = a, pb = b, pc = c) BatchedGemm.Run(count, m, n, k, pa, sa, pb, sb, pc, sc);
        for (int i = 0; i < count; i++)
        {
            var expected = Naive(false, false, m, n, k, a[(int)(i * sa)..(int)(i * sa + m * k)], b[(int)(i * sb)..(int)(i * sb + k * n)], 1f, 0f, new float[m * n]);
            for (int j = 0; j < m * n; j++)
                Assert.True(Math.Abs(c[i * sc + j] - expected[j]) <= 1e-4f * (1 + Math.Abs(expected[j])), $"product {i}, element {j}: {c[i * sc + j]} vs {expected[j]}");
            Assert.True(float.IsNaN(c[i * sc + m * n]) || i == count - 1 && sc == m * n, "nothing written past a product");
        }
    }

    [Theory]
    [InlineData(GemmBackend.OpenBlas, false, false)]
    [InlineData(GemmBackend.OpenBlas, true, true)]
    [InlineData(GemmBackend.Managed, false, false)]
    [InlineData(GemmBackend.Managed, true, false)]
    [InlineData(GemmBackend.Managed, false, true)]
    [InlineData(GemmBackend.Managed, true, true)]
    public void BackendsMatchNaiveProduct(GemmBackend backend, bool ta, bool tb)
    {
        var prev = Engine.Backend;
        Engine.Backend = backend;
        try
        {
            int m = 37, n = 1100, k = 29;
            var g = new Generator(9);
            var a = Tensor.Randn([m * k], g).ToArray(); var b = Tensor.Randn([k * n], g).ToArray(); var c = Tensor.Randn([m * n], g).ToArray();
            var expected = Naive(ta, tb, m, n, k, a, b, 0.5f, 0.25f, c);
            var actual = (float[])c.Clone();
            Gemm.Run(ta, tb, m, n, k, 0.5f, a, ta ? m : k, b, tb ? k : n, 0.25f, actual, n);
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-4 * (1 + Math.Abs(expected[i])), $"element {i}: {actual[i]} vs {expected[i]}");
        }
        finally { Engine.Backend = prev; }
    }

    [Fact]
    public void ManagedBackendTrainsAConvolutionLikeOpenBlas()
    {
        float[] Grad(GemmBackend be)
        {
            var prev = Engine.Backend;
            Engine.Backend = be;
            try
            {
                var gen = new Generator(1);
                var x = Tensor.Randn([2, 3, 9, 9], gen);
                var w = Tensor.Randn([4, 3, 3, 3], gen); w.RequiresGrad = true;
                F.Conv2d(x, w, null, padding: 1).Pow(2).Sum().Backward();
                return w.Grad!.ToArray();
            }
            finally { Engine.Backend = prev; }
        }
        var a = Grad(GemmBackend.OpenBlas); var b = Grad(GemmBackend.Managed);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-3 * (1 + Math.Abs(a[i])), $"weight grad {i}: {a[i]} vs {b[i]}");
    }
}
