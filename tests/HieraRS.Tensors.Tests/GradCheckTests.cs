using HieraRS.Tensors;

namespace HieraRS.Tensors.Tests;

/// <summary>Analytic gradients of every differentiable op against central finite differences.</summary>
public class GradCheckTests
{
    sealed record Case(Func<Tensor[], Tensor> F, int[][] Shapes, Func<int, Tensor, Tensor>? Prepare = null);

    static readonly IntTensor Target = IntTensor.FromArray(new long[] { 0, 2, 255, 1, 2, 0, 1, 255 }, 2, 2, 2);
    static readonly IntTensor GatherIdx = IntTensor.FromArray(new long[] { 0, 2, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0 }, 2, 3, 2);
    static readonly IntTensor Mask = IntTensor.FromArray(new long[] { 1, 0, 0, 1, 1, 0 }, 2, 3);

    static Tensor Positive(int _, Tensor t) => t.Abs().Add(0.5f).Detach();

    static readonly Dictionary<string, Case> Cases = new()
    {
        ["add"] = new(x => x[0] + x[1], [[2, 3], [3]]),
        ["sub"] = new(x => x[0] - x[1], [[2, 1], [2, 3]]),
        ["mul"] = new(x => x[0] * x[1], [[2, 3], [2, 1]]),
        ["div"] = new(x => x[0] / x[1], [[2, 3], [2, 3]], (k, t) => k == 1 ? Positive(k, t) : t),
        ["maximum"] = new(x => x[0].Maximum(x[1]), [[3, 4], [3, 4]]),
        ["neg_scalar"] = new(x => (-x[0] * 3f + 1f) / 2f, [[5]]),
        ["exp"] = new(x => x[0].Exp(), [[6]]),
        ["log"] = new(x => x[0].Log(), [[6]], Positive),
        ["sqrt"] = new(x => x[0].Sqrt(), [[6]], Positive),
        ["abs"] = new(x => x[0].Abs(), [[6]]),
        ["pow"] = new(x => x[0].Pow(3), [[6]]),
        ["relu"] = new(x => x[0].Relu(), [[8]]),
        ["sigmoid"] = new(x => x[0].Sigmoid(), [[8]]),
        ["tanh"] = new(x => x[0].Tanh(), [[8]]),
        ["gelu"] = new(x => x[0].Gelu(), [[8]]),
        ["clamp"] = new(x => x[0].Clamp(-0.5f, 0.5f), [[8]]),
        ["sum"] = new(x => x[0].Sum(), [[3, 4]]),
        ["sum_dim"] = new(x => x[0].Sum(1), [[3, 4, 2]]),
        ["mean_dims"] = new(x => x[0].Mean([0, 2], keepDim: true), [[3, 4, 2]]),
        ["max_dim"] = new(x => x[0].Max(1).Values, [[3, 4, 2]]),
        ["min_dim"] = new(x => x[0].Min(0).Values, [[3, 4]]),
        ["logsumexp"] = new(x => x[0].LogSumExp(1), [[2, 4, 3]]),
        ["softmax"] = new(x => x[0].Softmax(1), [[2, 4, 3]]),
        ["log_softmax"] = new(x => x[0].LogSoftmax(-1), [[2, 5]]),
        ["views"] = new(x => x[0].Permute(1, 0, 2).Narrow(0, 1, 2).Reshape(2, -1).Expand(3, 2, 6), [[2, 3, 3]]),
        ["cat_split"] = new(x => Tensor.Cat([x[1], x[0].Split([1, 2], 1)[1]], 1), [[2, 3], [2, 2]]),
        ["stack"] = new(x => Tensor.Stack([x[0], x[1]], 1), [[2, 3], [2, 3]]),
        ["matmul"] = new(x => x[0].MatMul(x[1]), [[3, 4], [4, 2]]),
        ["bmm"] = new(x => x[0].MatMul(x[1]), [[2, 3, 4], [2, 4, 2]]),
        ["linear"] = new(x => F.Linear(x[0], x[1], x[2]), [[2, 3, 4], [5, 4], [5]]),
        ["conv_s2"] = new(x => F.Conv2d(x[0], x[1], x[2], stride: 2, padding: 1), [[2, 3, 7, 6], [4, 3, 3, 3], [4]]),
        ["conv_groups_dil"] = new(x => F.Conv2d(x[0], x[1], null, padding: 2, dilation: 2, groups: 2), [[1, 4, 6, 6], [2, 2, 3, 3]]),
        ["conv_pointwise"] = new(x => F.Conv2d(x[0], x[1], x[2]), [[2, 3, 4, 4], [5, 3, 1, 1], [5]]),
        ["conv_depthwise"] = new(x => F.Conv2d(x[0], x[1], x[2], padding: 3, groups: 3), [[2, 3, 6, 7], [3, 1, 7, 7], [3]]),
        ["conv_depthwise_s2"] = new(x => F.Conv2d(x[0], x[1], null, stride: 2, padding: 1, groups: 3), [[1, 3, 7, 6], [3, 1, 3, 3]]),
        ["batch_norm_train"] = new(x => F.BatchNorm(x[0], null, null, x[1], x[2], training: true), [[3, 2, 3, 2], [2], [2]]),
        ["batch_norm_eval"] = new(x => F.BatchNorm(x[0], Tensor.FromArray([0.3f, -0.2f], 2), Tensor.FromArray([0.5f, 2f], 2), x[1], x[2], training: false), [[3, 2, 3, 2], [2], [2]]),
        ["group_norm"] = new(x => F.GroupNorm(x[0], 2, x[1], x[2]), [[2, 4, 3, 2], [4], [4]]),
        ["layer_norm_last"] = new(x => F.LayerNorm(x[0], x[1], x[2]), [[3, 5], [5], [5]]),
        ["layer_norm_cf"] = new(x => F.LayerNorm(x[0], x[1], x[2], dim: 1), [[2, 4, 2, 3], [4], [4]]),
        ["max_pool"] = new(x => F.MaxPool2d(x[0], 3, 2, 1), [[1, 2, 6, 5]]),
        ["avg_pool"] = new(x => F.AvgPool2d(x[0], 3, 2, 1, ceilMode: true), [[1, 2, 6, 5]]),
        ["adaptive_avg"] = new(x => F.AdaptiveAvgPool2d(x[0], 3, 2), [[1, 2, 7, 5]]),
        ["adaptive_max"] = new(x => F.AdaptiveMaxPool2d(x[0], 2, 3), [[1, 2, 7, 5]]),
        ["bilinear"] = new(x => F.Interpolate(x[0], 7, 5), [[1, 2, 3, 4]]),
        ["bilinear_ac"] = new(x => F.Interpolate(x[0], 2, 6, alignCorners: true), [[1, 2, 3, 4]]),
        ["nearest"] = new(x => F.Interpolate(x[0], 5, 7, InterpolationMode.Nearest), [[1, 2, 3, 4]]),
        ["gather"] = new(x => x[0].Gather(2, GatherIdx), [[2, 3, 3]]),
        ["index_select"] = new(x => x[0].IndexSelect(0, IntTensor.FromArray(new long[] { 2, 0, 2 }, 3)), [[3, 4]]),
        ["where"] = new(x => Tensor.Where(Mask, x[0], x[1]), [[2, 3], [3]]),
        ["dropout"] = new(x => F.Dropout(x[0], 0.4f, true, new Generator(3)), [[4, 5]]),
        ["drop_path"] = new(x => F.DropPath(x[0], 0.3f, true, new Generator(5)), [[6, 2, 2]]),
        ["cross_entropy"] = new(x => F.CrossEntropy(x[0], Target, x[1].Detach(), 255), [[2, 3, 2, 2], [3]], (k, t) => k == 1 ? Positive(k, t) : t),
        ["cross_entropy_mean_all"] = new(x => F.CrossEntropy(x[0], Target, null, 255, Reduction.MeanAll), [[2, 3, 2, 2]]),
        ["grid_sample"] = new(x => F.GridSample(x[0], x[1]), [[2, 2, 4, 5], [2, 3, 2, 2]], (k, t) => k == 1 ? t.Mul(0.6f).Detach() : t),
    };

    public static IEnumerable<object[]> Names => Cases.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(Names))]
    public void GradientMatchesFiniteDifferences(string name)
    {
        var c = Cases[name];
        var gen = new Generator(1234);
        var xs = c.Shapes.Select((s, k) =>
        {
            var t = Tensor.Randn(s, gen);
            return c.Prepare is null ? t : c.Prepare(k, t);
        }).ToArray();
        Tensor Eval() { using var _ = GradMode.NoGrad(); return c.F(xs); }
        var proj = Tensor.Randn(Eval().Shape.ToArray(), gen);
        double Loss()
        {
            var y = Eval().ToArray(); var p = proj.ToArray();
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)y[i] * p[i];
            return s;
        }
        foreach (var x in xs) x.RequiresGrad = true;
        c.F(xs).Backward(proj);
        const float eps = 1e-2f;
        for (int k = 0; k < xs.Length; k++)
        {
            if (name == "cross_entropy" && k == 1) continue; // class weights are constants here
            var x = xs[k];
            var grad = x.Grad?.ToArray() ?? throw new Xunit.Sdk.XunitException($"{name}: input {k} got no gradient");
            double scale = Math.Max(grad.Max(v => Math.Abs((double)v)), 1e-3);
            var data = x.Span;
            int step = Math.Max(1, data.Length / 16);
            for (int i = 0; i < data.Length; i += step)
            {
                float orig = data[i];
                data[i] = orig + eps; double lp = Loss();
                data[i] = orig - eps; double lm = Loss();
                data[i] = orig;
                double num = (lp - lm) / (2 * eps);
                double tol = 2e-2 * Math.Max(Math.Abs(num), scale) + 2e-3;
                Assert.True(Math.Abs(num - grad[i]) <= tol,
                    $"{name}: input {k} element {i}: analytic {grad[i]:G6}, finite difference {num:G6}");
            }
        }
    }
}
