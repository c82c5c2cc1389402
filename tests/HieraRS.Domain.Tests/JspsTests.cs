using HieraRS.Domain.Decoding;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Domain.Tests;

/// <summary>The one-pass joint path selection against its definition written with tensor ops (method.md §4).</summary>
public class JspsTests
{
    [Theory]
    [InlineData("mm5b", 37, 61)] // 4 / 9 / 18: chunks of 2048 pixels and a tail
    [InlineData("gid", 9, 13)]
    public void OnePassSelectionEqualsTheScoresMaxAndLogSumExp(string name, int h, int w)
    {
        var tree = HierarchyLoader.Builtin(name);
        var g = new Generator(21);
        var z = tree.ClassCounts.Select(k => Tensor.Randn([2, k, h, w], g) * 3f).ToArray();
        var d0 = z[0].Span;
        for (int i = 0; i < d0.Length; i += 11) d0[i] = MathF.Round(d0[i]); // ties between paths
        z[^1].Span[5] = float.NaN;

        var (labels, confidence) = Decoder.Jsps(tree, z);

        using var _ = GradMode.NoGrad();
        var s = PathScores.Compute(tree, z);
        var (best, index) = s.Max(1);
        var expectedConfidence = (best - s.LogSumExp(1)).Exp().ToArray();
        var paths = tree.Paths;
        var conf = confidence.ToArray();
        for (int l = 0; l < tree.Depth; l++)
            for (int i = 0; i < index.Numel; i++)
                Assert.Equal(paths[index.Data[i], l], labels[l].Data[i]);
        for (int i = 0; i < conf.Length; i++)
            Assert.True(float.IsNaN(expectedConfidence[i]) ? float.IsNaN(conf[i]) : Math.Abs(conf[i] - expectedConfidence[i]) <= 1e-6f,
                $"pixel {i}: confidence {conf[i]} against {expectedConfidence[i]}");
    }
}
