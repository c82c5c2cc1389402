using HieraRS.Platform;
using HieraRS.Domain.Decoding;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Domain.Losses;

/// <summary>Which loss trains the levels (method.md §3).</summary>
public enum LossKind
{
    /// <summary>L_HSC = L_HCE + alpha * L_HPC (the paper's).</summary>
    Hsc,
    /// <summary>L_HCE alone: per-level cross-entropy, weight 1 each.</summary>
    Hce,
    /// <summary>Per-level cross-entropy weighted by class count (K_i + 1, normalised to sum to the depth; 5:10:19 for MM-5B).</summary>
    ClassCountCe,
    /// <summary>One cross-entropy on the finest level (the flat baseline).</summary>
    Flat,
    /// <summary>HSSN's tree-min loss (<see cref="TreeMinLoss"/>); with a focal exponent when gamma &gt; 0.</summary>
    TreeMin,
}

/// <summary>
/// The training loss of a hierarchical (or flat) head. Cross-entropies ignore 255 and divide the sum
/// by all pixels (MMSegmentation); L_HPC is the mean over pixels whose labels form a valid path of
/// -log P(path), P the softmax over valid paths of the joint scores (0 when no pixel qualifies).
/// Logits are upsampled bilinearly (align_corners = false) to the label size first. Under data
/// parallelism (<see cref="GlobalCount"/>) the means over valid pixels use the global batch's count.
/// </summary>
public sealed class HierarchicalLoss
{
    public ClassHierarchy Hierarchy { get; }
    public LossKind Kind { get; }
    public double Alpha { get; }
    readonly double[] levelWeights;
    readonly Tensor?[] classWeights;

    readonly TreeMinLoss? treeMin;
    readonly GlobalCount? counts;

    /// <param name="alpha">L_HPC weight (Hsc); for TreeMin, the loss weight (1 or 5).</param>
    /// <param name="gamma">TreeMin's focal exponent (0: plain).</param>
    /// <param name="counts">the data-parallel processes' pixel counts (null: one process).</param>
    public HierarchicalLoss(ClassHierarchy tree, LossKind kind = LossKind.Hsc, double alpha = 2.0, double[]? levelWeights = null, Tensor?[]? classWeights = null,
        double gamma = 0.0, GlobalCount? counts = null)
    {
        Hierarchy = tree; Kind = kind; Alpha = alpha;
        this.counts = counts;
        if (kind == LossKind.TreeMin) treeMin = new TreeMinLoss(tree, alpha, gamma, counts);
        if (levelWeights is not null && levelWeights.Length != tree.Depth)
            throw new ArgumentException($"{levelWeights.Length} level weights for a tree of {Plural.Of(tree.Depth, "level")}");
        this.levelWeights = levelWeights ?? (kind == LossKind.ClassCountCe
            ? tree.ClassCounts.Select(k => (k + 1.0) * tree.Depth / tree.ClassCounts.Sum(c => c + 1.0)).ToArray()
            : Enumerable.Repeat(1.0, tree.Depth).ToArray());
        this.classWeights = classWeights ?? new Tensor?[tree.Depth];
    }

    /// <summary>The loss and its terms (as numbers, for logs).</summary>
    public (Tensor Loss, Dictionary<string, float> Terms) Compute(Tensor[] logits, IntTensor[] labels)
    {
        if (labels.Length != Hierarchy.Depth) throw new ArgumentException($"need labels for {Plural.Of(Hierarchy.Depth, "level")}, got {labels.Length}");
        int h = labels[0].Size(1), w = labels[0].Size(2);
        logits = logits.Select(z => z.Size(2) == h && z.Size(3) == w ? z : F.Interpolate(z, h, w)).ToArray();
        var terms = new Dictionary<string, float>();
        if (Kind == LossKind.Flat)
        {
            if (logits.Length != 1) throw new ArgumentException("the flat loss takes the finest level's logits only");
            var ce = Ce(logits[0], labels[^1], Hierarchy.Depth - 1);
            terms["ce"] = ce.Item();
            return (ce, terms);
        }
        if (logits.Length != Hierarchy.Depth) throw new ArgumentException($"need logits for {Plural.Of(Hierarchy.Depth, "level")}, got {logits.Length}");
        if (treeMin is not null)
        {
            var tm = treeMin.Compute(logits, labels);
            terms["tree_min"] = tm.Item();
            return (tm, terms);
        }
        Tensor? hce = null;
        for (int l = 0; l < Hierarchy.Depth; l++)
        {
            var ce = Ce(logits[l], labels[l], l);
            terms[$"ce{l + 1}"] = ce.Item();
            var weighted = levelWeights[l] == 1 ? ce : ce * (float)levelWeights[l];
            hce = hce is null ? weighted : hce + weighted;
        }
        if (Kind != LossKind.Hsc) return (hce!, terms);
        var hpc = Hpc(logits, labels);
        terms["hpc"] = hpc.Item();
        return (hce! + hpc * (float)Alpha, terms);
    }

    Tensor Ce(Tensor z, IntTensor y, int level) =>
        F.CrossEntropy(z, y, classWeights[level], ignoreIndex: ClassHierarchy.NoClass, reduction: Reduction.MeanAll);

    /// <summary>L_HPC alone (for tests and logs).</summary>
    public Tensor Hpc(Tensor[] logits, IntTensor[] labels)
    {
        var target = PathScores.Targets(Hierarchy, labels);
        int valid = target.Data.Count(t => t >= 0);
        double divisor = counts?.Divisors(valid)[0] ?? valid; // asked on every process, whatever its own count
        if (divisor == 0) return Tensor.Scalar(0f);
        // -log P(t_gt) = cross-entropy over the path scores (log_softmax(s) = s - logsumexp s)
        var scores = PathScores.Compute(Hierarchy, logits);
        return counts is null ? F.CrossEntropy(scores, target, ignoreIndex: -1, reduction: Reduction.Mean)
            : F.CrossEntropy(scores, target, ignoreIndex: -1, reduction: Reduction.Sum) * (float)(1 / divisor);
    }
}
