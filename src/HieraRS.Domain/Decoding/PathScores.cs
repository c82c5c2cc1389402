using HieraRS.Platform;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Domain.Decoding;

/// <summary>
/// Joint scores of the valid root-to-leaf paths, s_t = sum_i log_softmax(Z_i)[t_i] (method.md §3-4),
/// shared by L_HPC (training) and joint path selection (inference).
/// </summary>
public static class PathScores
{
    /// <summary>[N, P, H, W] scores of the tree's P valid paths from per-level logits [N, K_i, H, W] (differentiable).</summary>
    public static Tensor Compute(ClassHierarchy tree, Tensor[] logits)
    {
        if (logits.Length != tree.Depth) throw new ArgumentException($"need logits for {Plural.Of(tree.Depth, "level")}, got {logits.Length}");
        var paths = tree.Paths;
        Tensor? s = null;
        for (int l = 0; l < tree.Depth; l++)
        {
            if (logits[l].Size(1) != tree.Levels[l].Count)
                throw new ArgumentException($"level {l + 1} logits have {Plural.Of(logits[l].Size(1), "channel")}, the tree has {Plural.Of(tree.Levels[l].Count, "class")}");
            var column = new long[tree.PathCount];
            for (int p = 0; p < column.Length; p++) column[p] = paths[p, l];
            var picked = logits[l].LogSoftmax(1).IndexSelect(1, new IntTensor(column, column.Length));
            s = s is null ? picked : s + picked;
        }
        return s!;
    }

    /// <summary>Per pixel, the index of the path its labels form (-1 where they form none or any level is unlabelled): [N, H, W].</summary>
    public static IntTensor Targets(ClassHierarchy tree, IntTensor[] labels)
    {
        int n = labels[0].Numel;
        var t = new long[n];
        Span<int> path = stackalloc int[tree.Depth];
        for (int i = 0; i < n; i++)
        {
            for (int l = 0; l < tree.Depth; l++) path[l] = (int)labels[l].Data[i];
            t[i] = tree.PathIndex(path);
        }
        return new IntTensor(t, labels[0].Shape.ToArray());
    }
}
