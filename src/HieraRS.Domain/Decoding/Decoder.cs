using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Domain.Decoding;

/// <summary>Per-level predictions from per-level logits (method.md §4).</summary>
public static class Decoder
{
    /// <summary>
    /// Joint path selection: per pixel the valid path with the largest sum of per-level log-softmax
    /// scores, emitted at every level (consistent by construction). Also the path's probability among
    /// valid paths, a confidence in [0, 1].
    /// </summary>
    public static (IntTensor[] Labels, Tensor Confidence) Jsps(ClassHierarchy tree, Tensor[] logits)
    {
        using var _ = GradMode.NoGrad();
        var s = PathScores.Compute(tree, logits);
        var (best, index) = s.Max(1);
        var confidence = (best - s.LogSumExp(1)).Exp();
        var paths = tree.Paths;
        var labels = new IntTensor[tree.Depth];
        for (int l = 0; l < tree.Depth; l++)
        {
            var d = new long[index.Numel];
            for (int i = 0; i < d.Length; i++) d[i] = paths[index.Data[i], l];
            labels[l] = new IntTensor(d, index.Shape.ToArray());
        }
        return (labels, confidence);
    }

    /// <summary>Each level its own argmax (may form invalid paths).</summary>
    public static IntTensor[] Independent(Tensor[] logits)
    {
        using var _ = GradMode.NoGrad();
        return logits.Select(z => z.Argmax(1)).ToArray();
    }

    /// <summary>A flat model's finest prediction mapped to every level along the first valid path through each class.</summary>
    public static IntTensor[] Upward(ClassHierarchy tree, Tensor finestLogits)
    {
        using var _ = GradMode.NoGrad();
        var finest = finestLogits.Argmax(1);
        var maps = tree.UpwardMaps();
        return Enumerable.Range(0, tree.Depth).Select(l =>
        {
            var d = new long[finest.Numel];
            for (int i = 0; i < d.Length; i++) d[i] = maps[l][finest.Data[i]];
            return new IntTensor(d, finest.Shape.ToArray());
        }).ToArray();
    }
}
