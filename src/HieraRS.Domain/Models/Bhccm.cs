using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>How the per-level logits of a hierarchical head interact (method.md §2.3 and its ablations).</summary>
public enum BhccmMode
{
    /// <summary>One classifier on the finest level only (the flat baseline).</summary>
    Flat,
    /// <summary>A classifier per level, no interaction: Z_out = Z_in.</summary>
    Independent,
    /// <summary>Stage 1 only: Z_out = Z_m.</summary>
    CoarseToFine,
    /// <summary>Stage 2 only, on the initial logits: Z_out = Z_b with Z_m = Z_in.</summary>
    FineToCoarse,
    /// <summary>Both stages: Z_out = Z_b.</summary>
    Bidirectional,
    /// <summary>Both stages and the residual: Z_out = Z_in + z_ii * Z_b (the paper's final form).</summary>
    BidirectionalResidual,
}

/// <summary>
/// Merge block MB(a -> b), method.md §2.2: maps level-a logits X (K_a channels) to level b (K_b):
/// c = sigmoid(W GMP(X) + W GAP(X)) with one bias-free Linear W shared by both pools (optionally
/// followed by ReLU, the earlier form), s = sigmoid(Conv7x7([max_c X; mean_c X])), MB(X) = c * Conv1x1(X) * s.
/// </summary>
public sealed class MergeBlock : Module
{
    readonly Linear fc;
    readonly Conv2d conv, spatial;
    readonly bool relu;
    /// <summary>Whether the channel gate has the earlier form's ReLU (the ONNX exporter reads it).</summary>
    internal bool GateRelu => relu;

    public MergeBlock(int fromClasses, int toClasses, bool relu = false)
    {
        fc = Register("fc", new Linear(fromClasses, toClasses, bias: false));
        conv = Register("conv", new Conv2d(fromClasses, toClasses, 1, bias: false));
        spatial = Register("spatial", new Conv2d(2, 1, 7, padding: 3, bias: false));
        this.relu = relu;
    }

    public override Tensor Forward(Tensor x)
    {
        int n = x.Size(0);
        Tensor Gate(Tensor pooled)
        {
            var v = fc.Forward(pooled.Reshape(n, -1));
            return relu ? v.Relu() : v;
        }
        var c = (Gate(F.AdaptiveMaxPool2d(x, 1, 1)) + Gate(F.AdaptiveAvgPool2d(x, 1, 1))).Sigmoid();
        var s = spatial.Forward(Tensor.Cat([x.Max(1, keepDim: true).Values, x.Mean(1, keepDim: true)], 1)).Sigmoid();
        var gated = conv.Forward(x) * c.Reshape(n, -1, 1, 1);
        var y = gated * s;
        gated.Release(); // inference: later tensors of its length take its memory (a no-op while training)
        return y;
    }
}

/// <summary>
/// A decode head (MMSegmentation's BaseDecodeHead) with the hierarchical classifier of method.md §2:
/// subclasses compute the head's last feature map F; then dropout (channel dropout, as MMSeg), a 1x1
/// classifier per level and the merge blocks and learnable scalars of the chosen mode, for a tree of
/// any depth. Stage 1 feeds every coarser level's initial logits into every finer level; stage 2 feeds
/// every finer level's stage-1 logits into every coarser level; the residual adds Z_in. Names:
/// <c>conv_seg</c> is the finest classifier (the flat model's, so flat weights load),
/// <c>conv_seg_coarse.i</c> level i + 1, <c>bhccm.mb_a_b</c> the merge blocks and
/// <c>bhccm.w12 ... y32 ... z11</c> the scalars (1-based levels, as the paper).
/// </summary>
public abstract class DecodeHead : Module
{
    readonly Conv2d convSeg;
    readonly ModuleList coarse;
    readonly Dropout2d dropout;
    readonly BhccmScalars bhccm;

    public BhccmMode Mode { get; }
    public int[] ClassCounts { get; }
    /// <summary>Channels of the feature map F the classifiers read.</summary>
    public int Channels { get; }

    protected DecodeHead(int channels, int[] classCounts, BhccmMode mode, float dropout, bool mergeRelu)
    {
        if (classCounts.Length == 0) throw new ArgumentException("a classifier needs at least one level");
        if (classCounts.Length == 1 && mode != BhccmMode.Flat) mode = BhccmMode.Flat;
        Mode = mode; ClassCounts = classCounts; Channels = channels;
        convSeg = Register("conv_seg", new Conv2d(channels, classCounts[^1], 1));
        this.dropout = Register("dropout", new Dropout2d(dropout));
        coarse = Register("conv_seg_coarse", new ModuleList(mode == BhccmMode.Flat ? []
            : classCounts[..^1].Select(k => (Module)new Conv2d(channels, k, 1))));
        bhccm = Register("bhccm", new BhccmScalars(classCounts, mode, mergeRelu));
    }

    /// <summary>Number of levels the head outputs (1 when flat).</summary>
    public int Levels => Mode == BhccmMode.Flat ? 1 : ClassCounts.Length;

    /// <summary>The head's last feature map F from the backbone's features.</summary>
    public abstract Tensor Features(Tensor[] inputs);

    /// <summary>Logits of every level (coarse to fine; only the finest when flat) at the resolution of F.</summary>
    public Tensor[] Forward(Tensor[] inputs) => Classify(Features(inputs));

    /// <summary>
    /// The classifiers and BHCCM on a feature map; <paramref name="align"/>, when given, rewrites the initial
    /// logits Z_in of every level before the fusion (TransLU's CDSA).
    /// </summary>
    public Tensor[] Classify(Tensor features, Func<Tensor[], Tensor[]>? align = null)
    {
        var f = dropout.Forward(features);
        if (Mode == BhccmMode.Flat) return [convSeg.Forward(f)];
        var zin = coarse.Select(c => c.Forward(f)).Append(convSeg.Forward(f)).ToArray();
        if (align is not null) zin = align(zin);
        return bhccm.Combine(zin);
    }
}

/// <summary>The hierarchical classifier alone, on a given feature map.</summary>
public sealed class BhccmClassifier(int channels, int[] classCounts, BhccmMode mode = BhccmMode.BidirectionalResidual, float dropout = 0.1f, bool mergeRelu = false)
    : DecodeHead(channels, classCounts, mode, dropout, mergeRelu)
{
    public override Tensor Features(Tensor[] inputs) => inputs[0];
    public Tensor[] ForwardLevels(Tensor features) => Classify(features);
}

/// <summary>The merge blocks and scalars of a mode (the <c>bhccm</c> child of <see cref="BhccmClassifier"/>).</summary>
public sealed class BhccmScalars : Module
{
    readonly BhccmMode mode;
    readonly int n;
    readonly Dictionary<string, Tensor> scalars = [];
    readonly Dictionary<(int, int), MergeBlock> blocks = [];

    public BhccmScalars(int[] counts, BhccmMode mode, bool relu)
    {
        this.mode = mode; n = counts.Length;
        bool down = mode is BhccmMode.CoarseToFine or BhccmMode.Bidirectional or BhccmMode.BidirectionalResidual;
        bool up = mode is BhccmMode.FineToCoarse or BhccmMode.Bidirectional or BhccmMode.BidirectionalResidual;
        if (down)
            for (int b = 1; b < n; b++)
            {
                for (int a = 0; a < b; a++) { Block(a, b); Scalar('w', a, b); }
                Scalar('w', b, b);
            }
        if (up)
            for (int b = n - 2; b >= 0; b--)
            {
                for (int a = n - 1; a > b; a--) { Block(a, b); Scalar('y', a, b); }
                Scalar('y', b, b);
            }
        if (mode == BhccmMode.BidirectionalResidual)
            for (int i = 0; i < n; i++) Scalar('z', i, i);

        void Block(int a, int b) => blocks[(a, b)] = Register($"mb_{a + 1}_{b + 1}", new MergeBlock(counts[a], counts[b], relu));
        void Scalar(char kind, int a, int b) => scalars[$"{kind}{a + 1}{b + 1}"] = RegisterParameter($"{kind}{a + 1}{b + 1}", Tensor.Ones(1));
    }

    Tensor S(char kind, int a, int b) => scalars[$"{kind}{a + 1}{b + 1}"];

    public Tensor[] Combine(Tensor[] zin)
    {
        if (mode == BhccmMode.Independent) return zin;
        var zm = zin;
        if (mode is BhccmMode.CoarseToFine or BhccmMode.Bidirectional or BhccmMode.BidirectionalResidual)
        {
            zm = new Tensor[n];
            zm[0] = zin[0];
            for (int b = 1; b < n; b++)
            {
                var acc = S('w', b, b) * zin[b];
                for (int a = 0; a < b; a++) acc += S('w', a, b) * blocks[(a, b)].Forward(zin[a]); // Z_in of coarser levels (method.md: Z2_in, not Z2_m)
                zm[b] = acc;
            }
            if (mode == BhccmMode.CoarseToFine) return zm;
        }
        var zb = new Tensor[n];
        zb[n - 1] = zm[n - 1];
        for (int b = n - 2; b >= 0; b--)
        {
            var acc = S('y', b, b) * zm[b];
            for (int a = n - 1; a > b; a--) acc += S('y', a, b) * blocks[(a, b)].Forward(zm[a]);
            zb[b] = acc;
        }
        if (mode != BhccmMode.BidirectionalResidual) return zb;
        return Enumerable.Range(0, n).Select(i => zin[i] + S('z', i, i) * zb[i]).ToArray();
    }
}
