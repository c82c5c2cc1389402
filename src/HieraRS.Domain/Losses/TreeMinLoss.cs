using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Domain.Losses;

/// <summary>
/// HSSN's tree-min loss (Li et al., CVPR 2022), an alternative to L_HSC: per-class sigmoid scores s,
/// constrained down the tree (a class's positive score is the minimum over itself and its ancestors)
/// and up the tree (its negative score is the maximum over itself and its descendants), and a binary
/// cross-entropy on the constrained scores against the one-hot labels of every level. Per level, the
/// sum over classes is averaged over labelled pixels; the levels are summed; <see cref="Gamma"/> &gt; 0
/// gives the focal form, (1 - p_t)^gamma weighting; <see cref="Weight"/> scales the whole (x1 or x5).
/// Multi-parent classes take the minimum over all their ancestors. Under data parallelism the labelled
/// pixels are counted over the global batch (<see cref="GlobalCount"/>).
/// </summary>
public sealed class TreeMinLoss(ClassHierarchy tree, double weight = 1.0, double gamma = 0.0, GlobalCount? counts = null)
{
    public ClassHierarchy Hierarchy { get; } = tree;
    public double Weight { get; } = weight;
    public double Gamma { get; } = gamma;

    public Tensor Compute(Tensor[] logits, IntTensor[] labels)
    {
        int depth = Hierarchy.Depth;
        var s = logits.Select(z => z.Sigmoid()).ToArray();
        // down: min over ancestors (parents' constrained scores, then self)
        var down = new Tensor[depth];
        down[0] = s[0];
        for (int l = 1; l < depth; l++)
        {
            var parents = Hierarchy.Levels[l].Classes.Select(c => c.Parents).ToArray();
            Tensor? bound = null;
            for (int k = 0; k < parents.Max(p => p.Count); k++)
            {
                var idx = parents.Select(p => (long)p[Math.Min(k, p.Count - 1)]).ToArray();
                var g = down[l - 1].IndexSelect(1, new IntTensor(idx, idx.Length));
                bound = bound is null ? g : bound.Minimum(g);
            }
            down[l] = s[l].Minimum(bound!);
        }
        // up: max over descendants (children's constrained scores, then self)
        var up = new Tensor[depth];
        up[depth - 1] = s[depth - 1];
        for (int l = depth - 2; l >= 0; l--)
        {
            var perClass = new Tensor[Hierarchy.Levels[l].Count];
            for (int c = 0; c < perClass.Length; c++)
            {
                var children = Hierarchy.Levels[l + 1].Classes.Where(k => k.Parents.Contains(c)).Select(k => (long)k.Id).ToArray();
                var own = s[l].Narrow(1, c, 1);
                perClass[c] = children.Length == 0 ? own
                    : own.Maximum(up[l + 1].IndexSelect(1, new IntTensor(children, children.Length)).Max(1, keepDim: true).Values);
            }
            up[l] = Tensor.Cat(perClass, 1);
        }
        Tensor? total = null;
        var hot = Enumerable.Range(0, depth).Select(l => OneHot(labels[l], Hierarchy.Levels[l].Count)).ToArray();
        var divisors = counts?.Divisors(hot.Select(h => (double)h.Count).ToArray()) ?? hot.Select(h => (double)h.Count).ToArray();
        for (int l = 0; l < depth; l++)
        {
            var (target, valid, _) = hot[l];
            double count = divisors[l];
            if (count == 0) continue;
            var pos = down[l].Clamp(1e-6f, 1f).Log();            // log of the constrained positive score
            var neg = (1f - up[l]).Clamp(1e-6f, 1f).Log();        // log of one minus the constrained negative score
            Tensor term;
            if (Gamma > 0)
            {
                var g = (float)Gamma;
                term = target * (1f - down[l]).Clamp(0f, 1f).Pow(g) * pos + (1f - target) * up[l].Clamp(0f, 1f).Pow(g) * neg;
            }
            else term = target * pos + (1f - target) * neg;
            var level = -(term * valid).Sum() / (float)count;
            total = total is null ? level : total + level;
        }
        return (total ?? Tensor.Scalar(0f)) * (float)Weight;
    }

    /// <summary>One-hot targets [N, K, H, W], the labelled-pixel mask [N, 1, H, W] and its count.</summary>
    static (Tensor Target, Tensor Valid, int Count) OneHot(IntTensor labels, int classes)
    {
        int n = labels.Size(0), h = labels.Size(1), w = labels.Size(2), hw = h * w;
        var t = Tensor.Zeros(n, classes, h, w);
        var v = Tensor.Zeros(n, 1, h, w);
        var ts = t.Span;
        var vs = v.Span;
        int count = 0;
        for (int b = 0; b < n; b++)
            for (int i = 0; i < hw; i++)
            {
                long y = labels.Data[b * hw + i];
                if (y == ClassHierarchy.NoClass) continue;
                ts[(b * classes + (int)y) * hw + i] = 1f;
                vs[b * hw + i] = 1f;
                count++;
            }
        return (t, v, count);
    }
}
