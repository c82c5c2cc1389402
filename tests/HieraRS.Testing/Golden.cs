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
    /// A whole module against a fixture: loads its parameters (strict), runs <paramref name="forward"/>
    /// on the fixture's inputs, compares every output y{i}, back-propagates sum(y_i * gy_i), and compares
    /// every input gradient (an unused input's must be zero), every parameter gradient and, after the
    /// pass, every running statistic ("after.*"). Keys: parameters under <paramref name="param"/>,
    /// their gradients under <paramref name="grad"/>, inputs and their gradients under
    /// <paramref name="input"/>{i} / g<paramref name="input"/>{i} (or without index when single).
    /// A fixture with float64 references may carry tol.{key}: that tensor's measured sensitivity to
    /// float32 rounding (tools/make_golden_models.py); the tolerance is then the larger of
    /// <paramref name="rtol"/> and <see cref="SensitivityMargin"/> times it.
    /// </summary>
    /// <summary>
    /// How many times a float64 reference's measured float32 sensitivity a result may be off: an
    /// implementation that rounds differently (another GEMM kernel, another summation order) lands within
    /// a few jittered runs' spread; a wrong one (a missed term, a wrong stride) lands orders beyond it.
    /// </summary>
    public const double SensitivityMargin = 4;

    public static void CheckModule(StateDict t, Module module, Func<Tensor[], Tensor[]> forward, double rtol,
        string param = "p.", string grad = "gp.", string input = "x", bool train = true)
    {
        double Tol(string key, double floor) => t.TryGetValue("tol." + key, out var s) ? Math.Max(floor, SensitivityMargin * s.ToArray()[0]) : floor;
        module.LoadStateDict(t.Where(kv => kv.Key.StartsWith(param)).ToDictionary(kv => kv.Key[param.Length..], kv => kv.Value));
        module.Train(train);
        var keys = t.ContainsKey(input) ? [input] : Enumerable.Range(0, 16).Select(i => $"{input}{i}").TakeWhile(t.ContainsKey).ToArray();
        var xs = keys.Select(k => { var x = t[k].CloneData(); x.RequiresGrad = true; return x; }).ToArray();
        var ys = forward(xs);
        Tensor? l = null;
        for (int i = 0; i < ys.Length; i++)
        {
            AssertClose(t[$"y{i}"], ys[i], Tol($"y{i}", rtol), $"output {i}");
            var term = (ys[i] * t[$"gy{i}"]).Sum();
            l = l is null ? term : l + term;
        }
        l!.Backward();
        for (int i = 0; i < xs.Length; i++)
            AssertClose(t["g" + keys[i]], xs[i].Grad ?? Tensor.ZerosLike(xs[i]), Tol("g" + keys[i], rtol), $"gradient of {keys[i]}");
        foreach (var (name, p) in module.NamedParameters())
            AssertClose(t[grad + name], p.Grad ?? throw new Xunit.Sdk.XunitException($"no gradient for {name}"), Tol(grad + name, rtol), $"gradient of {name}");
        var sd = module.StateDict();
        foreach (var (k, v) in t.Where(kv => kv.Key.StartsWith("after.")))
            AssertClose(v, sd[k["after.".Length..]], Tol(k, 1e-4), $"running statistic {k["after.".Length..]}");
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
