using HieraRS.NN;
using HieraRS.Tensors;
using Xunit;

namespace HieraRS.Testing;

/// <summary>Loads PyTorch golden fixtures (tools/make_golden.py) and compares within tolerance.</summary>
public static class Golden
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "ops");

    public static StateDict Load(string name) => SafeTensors.Load(Path.Combine(Dir, name + ".safetensors")).Tensors;

    /// <summary>A fixture from another folder under fixtures/ (e.g. "bhccm").</summary>
    public static StateDict Load(string folder, string name) =>
        SafeTensors.Load(Path.Combine(AppContext.BaseDirectory, "fixtures", folder, name + ".safetensors")).Tensors;

    /// <summary>
    /// Runs f on the fixture's inputs, compares the output, then back-propagates the fixture's
    /// upstream gradient and compares every input gradient PyTorch produced.
    /// </summary>
    public static void Check(string name, Func<Tensor[], IntTensor[], Tensor> f, double rtol = 1e-4)
    {
        var t = Load(name);
        var xs = Enumerable.Range(0, 16).TakeWhile(k => t.ContainsKey($"x{k}")).Select(k => t[$"x{k}"]).ToArray();
        var ints = Enumerable.Range(0, 16).TakeWhile(k => t.ContainsKey($"i{k}")).Select(k => SafeTensors.ToIntTensor(t[$"i{k}"])).ToArray();
        for (int k = 0; k < xs.Length; k++) xs[k].RequiresGrad = t.ContainsKey($"g{k}");
        var y = f(xs, ints);
        AssertClose(t["y"], y, rtol, $"{name}: output");
        if (!t.ContainsKey("gy")) return;
        y.Backward(t["gy"]);
        for (int k = 0; k < xs.Length; k++)
            if (t.ContainsKey($"g{k}"))
            {
                Assert.True(xs[k].Grad is not null, $"{name}: no gradient for input {k}");
                AssertClose(t[$"g{k}"], xs[k].Grad!, rtol, $"{name}: gradient of input {k}");
            }
    }

    /// <summary>
    /// |actual - expected| &lt;= rtol * (|expected| + 0.1 * max|expected|) elementwise: relative, with
    /// an absolute floor at a tenth of the tensor's scale so values near zero compare sensibly.
    /// </summary>
    public static void AssertClose(Tensor expected, Tensor actual, double rtol, string what)
    {
        Assert.True(expected.Shape.SequenceEqual(actual.Shape),
            $"{what}: shape {ShapeUtil.Format(actual.Shape)}, expected {ShapeUtil.Format(expected.Shape)}");
        var e = expected.ToArray(); var a = actual.ToArray();
        double scale = e.Length == 0 ? 0 : e.Max(v => Math.Abs((double)v));
        for (int i = 0; i < e.Length; i++)
        {
            double tol = rtol * (Math.Abs(e[i]) + 0.1 * scale) + 1e-12;
            if (!(Math.Abs(a[i] - e[i]) <= tol))
                Assert.Fail($"{what}: element {i} is {a[i]:G9}, expected {e[i]:G9} (tolerance {tol:G3})");
        }
    }
}
