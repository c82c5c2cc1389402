using HieraRS.Tensors;

using HieraRS.Testing;

namespace HieraRS.Tensors.Tests;

/// <summary>Every op against PyTorch 1.13 outputs and gradients (fixtures from tools/make_golden.py).</summary>
[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class GoldenOpTests
{
    static readonly Dictionary<string, Func<Tensor[], IntTensor[], Tensor>> Cases = new()
    {
        ["add_broadcast"] = (x, _) => x[0] + x[1],
        ["sub_broadcast"] = (x, _) => x[0] - x[1],
        ["mul_broadcast"] = (x, _) => x[0] * x[1],
        ["div"] = (x, _) => x[0] / x[1],
        ["maximum"] = (x, _) => x[0].Maximum(x[1]),
        ["relu"] = (x, _) => x[0].Relu(),
        ["gelu"] = (x, _) => x[0].Gelu(),
        ["sigmoid"] = (x, _) => x[0].Sigmoid(),
        ["tanh"] = (x, _) => x[0].Tanh(),
        ["exp"] = (x, _) => x[0].Exp(),
        ["abs"] = (x, _) => x[0].Abs(),
        ["neg"] = (x, _) => -x[0],
        ["log"] = (x, _) => x[0].Log(),
        ["sqrt"] = (x, _) => x[0].Sqrt(),
        ["pow3"] = (x, _) => x[0].Pow(3),
        ["clamp"] = (x, _) => x[0].Clamp(-0.5f, 0.7f),
        ["sum_dims"] = (x, _) => x[0].Sum([0, 2]),
        ["sum_keep"] = (x, _) => x[0].Sum(1, keepDim: true),
        ["mean_all"] = (x, _) => x[0].Mean(),
        ["mean_dim"] = (x, _) => x[0].Mean(-1),
        ["max_dim"] = (x, _) => x[0].Max(1).Values,
        ["min_dim"] = (x, _) => x[0].Min(2).Values,
        ["softmax_c"] = (x, _) => x[0].Softmax(1),
        ["softmax_last"] = (x, _) => x[0].Softmax(-1),
        ["log_softmax_c"] = (x, _) => x[0].LogSoftmax(1),
        ["log_softmax_last"] = (x, _) => x[0].LogSoftmax(-1),
        ["logsumexp_c"] = (x, _) => x[0].LogSumExp(1),
        ["logsumexp_last"] = (x, _) => x[0].LogSumExp(-1, keepDim: true),
        ["permute_contig"] = (x, _) => x[0].Permute(2, 0, 1).Contiguous() * 1f,
        ["transpose_reshape"] = (x, _) => x[0].Transpose(0, 1).Reshape(4, -1),
        ["narrow"] = (x, _) => x[0].Narrow(1, 1, 2) * 2f,
        ["expand"] = (x, _) => x[0].Expand(3, 4, 5) * 1f,
        ["cat"] = (x, _) => Tensor.Cat([x[0], x[1], x[2]], 1),
        ["stack"] = (x, _) => Tensor.Stack([x[0], x[1]], 2),
        ["split_chunk"] = (x, _) => Tensor.Cat(x[0].Chunk(3, 1).Select((p, k) => p * (k + 1f)).ToList(), 1),
        ["mm"] = (x, _) => x[0].MatMul(x[1]),
        ["bmm"] = (x, _) => x[0].MatMul(x[1]),
        ["matmul_nd"] = (x, _) => x[0].MatMul(x[1]),
        ["linear"] = (x, _) => F.Linear(x[0], x[1], x[2]),
        ["linear_nobias"] = (x, _) => F.Linear(x[0], x[1]),
        ["conv3x3"] = (x, _) => F.Conv2d(x[0], x[1], x[2], padding: 1),
        ["conv3x3_s2"] = (x, _) => F.Conv2d(x[0], x[1], null, stride: 2, padding: 1),
        ["conv_dilated"] = (x, _) => F.Conv2d(x[0], x[1], x[2], padding: 2, dilation: 2),
        ["conv_groups"] = (x, _) => F.Conv2d(x[0], x[1], x[2], padding: 1, groups: 2),
        ["conv_dw7"] = (x, _) => F.Conv2d(x[0], x[1], x[2], padding: 3, groups: 4),
        ["conv_dw3_s2"] = (x, _) => F.Conv2d(x[0], x[1], null, stride: 2, padding: 1, groups: 3),
        ["conv1x1"] = (x, _) => F.Conv2d(x[0], x[1], x[2]),
        ["conv1x1_s2"] = (x, _) => F.Conv2d(x[0], x[1], null, stride: 2),
        ["conv_big_single"] = (x, _) => F.Conv2d(x[0], x[1], null, padding: 1),
        ["conv7x7_s2_p3"] = (x, _) => F.Conv2d(x[0], x[1], null, stride: 2, padding: 3),
        ["conv3x3_wide"] = (x, _) => F.Conv2d(x[0], x[1], x[2], padding: 1),
        ["conv3x3_wide_nopad"] = (x, _) => F.Conv2d(x[0], x[1]),
        ["conv3x3_wide_big"] = (x, _) => F.Conv2d(x[0], x[1], null, padding: 1),
        ["conv7x7_2to1"] = (x, _) => F.Conv2d(x[0], x[1], null, padding: 3),
        ["conv5x5_3to2_dil"] = (x, _) => F.Conv2d(x[0], x[1], x[2], padding: 4, dilation: 2),
        ["conv_rect"] = (x, _) => F.Conv2d(x[0], x[1], null, (2, 1), (0, 1), (1, 1)),
        ["batch_norm_eval"] = (x, _) => F.BatchNorm(x[0], x[3], x[4], x[1], x[2], training: false),
        ["group_norm"] = (x, _) => F.GroupNorm(x[0], 2, x[1], x[2]),
        ["layer_norm_last"] = (x, _) => F.LayerNorm(x[0], x[1], x[2], 1e-6f),
        ["layer_norm_cf"] = (x, _) => F.LayerNorm(x[0], x[1], x[2], 1e-6f, dim: 1),
        ["max_pool_3s2p1"] = (x, _) => F.MaxPool2d(x[0], 3, 2, 1),
        ["max_pool_stem"] = (x, _) => F.MaxPool2d(x[0], 3, 2, 1),
        ["max_pool_ceil"] = (x, _) => F.MaxPool2d(x[0], 2, 2, ceilMode: true),
        ["avg_pool_3s2p1"] = (x, _) => F.AvgPool2d(x[0], 3, 2, 1),
        ["avg_pool_nopad_count"] = (x, _) => F.AvgPool2d(x[0], 3, 2, 1, countIncludePad: false),
        ["avg_pool_ceil"] = (x, _) => F.AvgPool2d(x[0], 3, 2, 1, ceilMode: true),
        ["adaptive_avg_1"] = (x, _) => F.AdaptiveAvgPool2d(x[0], 1, 1),
        ["adaptive_avg_2"] = (x, _) => F.AdaptiveAvgPool2d(x[0], 2, 2),
        ["adaptive_avg_3"] = (x, _) => F.AdaptiveAvgPool2d(x[0], 3, 3),
        ["adaptive_avg_6"] = (x, _) => F.AdaptiveAvgPool2d(x[0], 6, 6),
        ["adaptive_max_3"] = (x, _) => F.AdaptiveMaxPool2d(x[0], 3, 3),
        ["bilinear_size"] = (x, _) => F.Interpolate(x[0], 11, 7),
        ["bilinear_size_ac"] = (x, _) => F.Interpolate(x[0], 11, 7, alignCorners: true),
        ["bilinear_down"] = (x, _) => F.Interpolate(x[0], 4, 3),
        ["bilinear_scale2"] = (x, _) => F.Interpolate(x[0], 2.0),
        ["bilinear_scale_half"] = (x, _) => F.Interpolate(x[0], 0.5),
        ["bilinear_scale_ac"] = (x, _) => F.Interpolate(x[0], 3.0, alignCorners: true),
        ["bilinear_scale4_wide"] = (x, _) => F.Interpolate(x[0], 4.0),
        ["bilinear_size_wide"] = (x, _) => F.Interpolate(x[0], 19, 45),
        ["bilinear_size_wide_ac"] = (x, _) => F.Interpolate(x[0], 9, 61, alignCorners: true),
        ["nearest_size"] = (x, _) => F.Interpolate(x[0], 7, 10, InterpolationMode.Nearest),
        ["nearest_scale"] = (x, _) => F.Interpolate(x[0], 0.5, InterpolationMode.Nearest),
        ["gather"] = (x, i) => x[0].Gather(2, i[0]),
        ["index_select"] = (x, i) => x[0].IndexSelect(1, i[0]),
        ["where"] = (x, i) => Tensor.Where(i[0], x[0], x[1]),
        ["masked_fill"] = (x, i) => x[0].MaskedFill(i[0], -2.5f),
        ["ce_mean_ignore"] = (x, i) => F.CrossEntropy(x[0], i[0], ignoreIndex: 255),
        ["ce_weighted"] = (x, i) => F.CrossEntropy(x[0], i[0], x[1], 255),
        ["ce_sum"] = (x, i) => F.CrossEntropy(x[0], i[0], ignoreIndex: 255, reduction: Reduction.Sum),
        ["ce_none"] = (x, i) => F.CrossEntropy(x[0], i[0], ignoreIndex: 255, reduction: Reduction.None),
        ["ce_mean_all"] = (x, i) => F.CrossEntropy(x[0], i[0], x[1], 255, Reduction.MeanAll),
        ["ce_2d"] = (x, i) => F.CrossEntropy(x[0], i[0]),
        ["grid_sample"] = (x, _) => F.GridSample(x[0], x[1]),
    };

    public static IEnumerable<object[]> Names => Cases.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesPyTorch(string name) => Golden.Check(name, Cases[name]);

    [Fact]
    public void EveryFixtureHasATest()
    {
        var special = new[] { "argmax", "batch_norm_train", "optim_sgd", "optim_sgd_plain", "optim_adamw" };
        var files = Directory.GetFiles(Golden.Dir, "*.safetensors").Select(Path.GetFileNameWithoutExtension);
        var untested = files.Where(f => !Cases.ContainsKey(f!) && !special.Contains(f) && !f!.StartsWith("block_")).ToList();
        Assert.True(untested.Count == 0, "fixtures without a test: " + string.Join(", ", untested));
    }

    [Fact]
    public void ArgmaxMatchesPyTorch()
    {
        var t = Golden.Load("argmax");
        var idx = t["x0"].Argmax(1);
        Assert.Equal(t["y"].ToArray().Select(v => (long)v), idx.Data);
    }

    [Fact]
    public void BatchNormTrainingMatchesPyTorchIncludingRunningStats()
    {
        var t = Golden.Load("batch_norm_train");
        var rm = t["extra.running_mean_in"].CloneData(); var rv = t["extra.running_var_in"].CloneData();
        Golden.Check("batch_norm_train", (x, _) => F.BatchNorm(x[0], rm, rv, x[1], x[2], training: true, momentum: 0.1f));
        Golden.AssertClose(t["extra.running_mean"], rm, 1e-4, "running_mean");
        Golden.AssertClose(t["extra.running_var"], rv, 1e-4, "running_var");
    }
}

public class ExtremeAlongADimTests
{
    /// <summary>Max / min over channels of an image (inner dim the pixels: the vectorised path and its tail), with ties and NaNs, against the rule itself.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ChannelExtremesTakeTheFirstExtremeAndNaN(bool max)
    {
        var g = new Generator(3);
        int n = 2, c = 5, hw = 37;
        var x = Tensor.Randn([n * c * hw], g).ToArray();
        for (int i = 0; i < x.Length; i += 7) x[i] = MathF.Round(x[i]); // ties
        x[3 * hw + 4] = float.NaN; x[hw + 20] = float.NaN; x[4 * hw + 20] = float.NaN;
        var (values, idx) = max ? Tensor.FromArray(x, n, c, hw).Max(1) : Tensor.FromArray(x, n, c, hw).Min(1);
        var v = values.ToArray();
        for (int b = 0; b < n; b++)
            for (int p = 0; p < hw; p++)
            {
                int best = 0;
                for (int k = 1; k < c; k++)
                {
                    float a = x[(b * c + k) * hw + p], e = x[(b * c + best) * hw + p];
                    if ((max ? a > e : a < e) || float.IsNaN(a) && !float.IsNaN(e)) best = k;
                }
                Assert.Equal(best, idx.Data[b * hw + p]);
                Assert.Equal(x[(b * c + best) * hw + p], v[b * hw + p]);
            }
    }
}

public class AddReluTests
{
    [Fact]
    public void AddReluIsTheSumThroughARelu()
    {
        var g = new Generator(8);
        var a = Tensor.Randn([2, 3, 50, 47], g); var b = Tensor.Randn([2, 3, 50, 47], g);
        Tensor fused;
        using (GradMode.NoGrad()) fused = a.AddRelu(b);
        Assert.Equal((a + b).Relu().ToArray(), fused.ToArray()); // the same float operations: equal, not close
        a.RequiresGrad = true;
        var y = a.AddRelu(b);
        Assert.False(y.IsLeaf); // with gradients it records the graph
        y.Sum().Backward();
        var sum = (a.Detach() + b).ToArray();
        Assert.Equal(sum.Select(v => v > 0 ? 1f : 0f).ToArray(), a.Grad!.ToArray());
    }
}
