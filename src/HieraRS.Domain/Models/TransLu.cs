using HieraRS.Domain.Hierarchies;
using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>CDKS injector settings (method.md §5: 16 heads, 4 points, value width 0.5, ConvFFN width 1/4, drop path 0.4).</summary>
public sealed record InjectorOptions
{
    public int Heads { get; init; } = 16;
    public int Points { get; init; } = 4;
    public double ValueRatio { get; init; } = 0.5;
    public double FfnRatio { get; init; } = 0.25;
    public float DropPath { get; init; } = 0.4f;
}

/// <summary>ViT-Adapter's ConvFFN on tokens of an H x W map: Linear(C, hidden) -> 3x3 depthwise conv -> GELU -> Linear(hidden, C).</summary>
public sealed class ConvFfn : Module
{
    readonly Linear fc1, fc2;
    readonly TokenDwConv dwconv;

    public ConvFfn(int channels, int hidden)
    {
        fc1 = Register("fc1", new Linear(channels, hidden));
        dwconv = Register("dwconv", new TokenDwConv(hidden));
        fc2 = Register("fc2", new Linear(hidden, channels));
    }

    public Tensor Forward(Tensor tokens, int height, int width) => fc2.Forward(dwconv.Forward(fc1.Forward(tokens), height, width).Gelu());

    /// <summary>A 3x3 depthwise convolution of tokens [B, H * W, C] laid back on their map (<c>dwconv.dwconv</c>, as ViT-Adapter).</summary>
    sealed class TokenDwConv : Module
    {
        readonly Conv2d conv;
        public TokenDwConv(int channels) => conv = Register("dwconv", new Conv2d(channels, channels, 3, 1, 1, groups: channels));

        public Tensor Forward(Tensor tokens, int height, int width)
        {
            int b = tokens.Size(0), c = tokens.Size(2);
            var map = tokens.Transpose(1, 2).Reshape(b, c, height, width);
            return conv.Forward(map).Reshape(b, c, height * width).Transpose(1, 2);
        }
    }
}

/// <summary>
/// CDKS injector (method.md §5): updates the target tokens x1 from the source tokens x2 of the same
/// map size. f = Linear(C2 -> C1)(x2); x1 += g_ca * MSDeformAttn(LN(x1), pixel centres of x1, LN(f));
/// x1 += g_ffn * DropPath(ConvFFN(LN(x1))). The gates are per channel and start at 0, so a fresh
/// injector leaves the target branch as it is. LayerNorm eps 1e-6. x2 is not changed.
/// </summary>
public sealed class Injector : Module
{
    readonly Linear proj;
    readonly LayerNorm queryNorm, featNorm, ffnNorm;
    readonly MultiScaleDeformableAttention attn;
    readonly ConvFfn ffn;
    readonly DropPath dropPath;
    public Tensor Gamma { get; }
    public Tensor FfnGamma { get; }

    public Injector(int targetChannels, int sourceChannels, InjectorOptions o)
    {
        proj = Register("proj", new Linear(sourceChannels, targetChannels));
        queryNorm = Register("query_norm", new LayerNorm(targetChannels, 1e-6f));
        featNorm = Register("feat_norm", new LayerNorm(targetChannels, 1e-6f));
        attn = Register("attn", new MultiScaleDeformableAttention(targetChannels, o.Heads, o.Points, o.ValueRatio));
        Gamma = RegisterParameter("gamma", Tensor.Zeros(targetChannels));
        ffnNorm = Register("ffn_norm", new LayerNorm(targetChannels, 1e-6f));
        ffn = Register("ffn", new ConvFfn(targetChannels, Math.Max(1, (int)(targetChannels * o.FfnRatio))));
        FfnGamma = RegisterParameter("ffn_gamma", Tensor.Zeros(targetChannels));
        dropPath = Register("drop_path", new DropPath(o.DropPath));
        // ViT-Adapter's init for the linear layers (truncated normal 0.02, bias 0); the attention keeps its own
        foreach (var l in new[] { proj }.Concat(ffn.NamedModules().Select(m => m.Module).OfType<Linear>()))
        {
            Init.TruncNormal(l.Weight, std: 0.02f);
            Init.Constant(l.Bias!, 0);
        }
    }

    /// <param name="target">x1 as a map [B, C1, H, W]</param>
    /// <param name="source">x2 as a map [B, C2, H, W]</param>
    public Tensor Forward(Tensor target, Tensor source)
    {
        int b = target.Size(0), c = target.Size(1), h = target.Size(2), w = target.Size(3);
        if (source.Size(2) != h || source.Size(3) != w)
            throw new ArgumentException($"injector: source map {source.Size(2)} x {source.Size(3)}, target {h} x {w}");
        var x1 = target.Reshape(b, c, h * w).Transpose(1, 2);
        var x2 = source.Reshape(b, source.Size(1), h * w).Transpose(1, 2);
        var f = proj.Forward(x2);
        x1 = x1 + Gamma * attn.Forward(queryNorm.Forward(x1), ReferencePoints(b, h, w), featNorm.Forward(f), h, w);
        x1 = x1 + FfnGamma * dropPath.Forward(ffn.Forward(ffnNorm.Forward(x1), h, w));
        return x1.Transpose(1, 2).Reshape(b, c, h, w);
    }

    /// <summary>Normalised pixel centres ((j + 0.5) / W, (i + 0.5) / H) of an H x W map, row-major: [B, H * W, 2].</summary>
    public static Tensor ReferencePoints(int batch, int h, int w)
    {
        var r = new float[batch * h * w * 2];
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    int k = ((n * h + i) * w + j) * 2;
                    r[k] = (j + 0.5f) / w;
                    r[k + 1] = (i + 0.5f) / h;
                }
        return Tensor.FromArray(r, batch, h * w, 2);
    }
}

/// <summary>out_k = a_k * ReLU(GN(x1)) + b_k * ReLU(GN(x2)), a_k and b_k learnable from 1 (method.md §5).</summary>
public sealed class BranchFusion : Module
{
    readonly GroupNorm normTarget, normSource;
    readonly Tensor a, b;

    public BranchFusion(int channels)
    {
        int groups = Groups(channels);
        normTarget = Register("norm_target", new GroupNorm(groups, channels));
        normSource = Register("norm_source", new GroupNorm(groups, channels));
        a = RegisterParameter("a", Tensor.Ones(1));
        b = RegisterParameter("b", Tensor.Ones(1));
    }

    /// <summary>32 groups, or the largest divisor of the width below 32 for widths 32 does not divide (e.g. ConvNeXt-atto's 40).</summary>
    public static int Groups(int channels) => Enumerable.Range(1, 32).Reverse().First(g => channels % g == 0);

    public Tensor Forward(Tensor target, Tensor source) => a * normTarget.Forward(target).Relu() + b * normSource.Forward(source).Relu();

    /// <summary>The weights of the target's and the source's features.</summary>
    public (float A, float B) Weights => (a.Item(), b.Item());
}

/// <summary>
/// Cross-domain knowledge sharing: an injector after every interaction stage (a group of backbone
/// units) and a fusion per backbone stage output.
/// </summary>
public sealed class Cdks : Module
{
    public ModuleList Injectors { get; }
    public ModuleList Fusions { get; }

    /// <param name="slices">unit indices of each interaction stage (<see cref="InteractionStages"/>): an injector after each</param>
    public Cdks(IStagedBackbone target, IStagedBackbone source, IReadOnlyList<int[]> slices, InjectorOptions o)
    {
        Injectors = Register("injectors", new ModuleList(slices.Select(s =>
        {
            int stage = target.Units[s[^1]].Stage;
            return (Module)new Injector(target.OutChannels[stage], source.OutChannels[stage], o);
        })));
        Fusions = Register("fusions", new ModuleList(target.OutChannels.Select(c => (Module)new BranchFusion(c))));
    }

    /// <summary>
    /// Interaction stages: the blocks of each backbone stage in ceil(blocks / 3) consecutive groups of
    /// near-equal size (larger groups first), the stage's downsampler joined to its first group. For
    /// ConvNeXt-B (3/3/27/3 blocks and 3 downsamplers, 39 units) this gives exactly method.md's 12 slices
    /// [0,2] [3,6] [7,10] [11,13] ... [32,34] [35,38]; for ConvNeXt-T 6, ResNet-18 4, ResNet-50 6, ResNet-101 12.
    /// </summary>
    public static List<int[]> InteractionStages(IReadOnlyList<(Module Unit, int Stage, bool Downsampler)> units)
    {
        var slices = new List<int[]>();
        foreach (var stage in units.Select((u, i) => (u, i)).GroupBy(x => x.u.Stage))
        {
            var down = stage.Where(x => x.u.Downsampler).Select(x => x.i).ToList();
            var blocks = stage.Where(x => !x.u.Downsampler).Select(x => x.i).ToList();
            int n = Math.Max(1, (blocks.Count + 2) / 3), at = 0;
            for (int g = 0; g < n; g++)
            {
                int size = blocks.Count / n + (g < blocks.Count % n ? 1 : 0);
                var slice = (g == 0 ? down : []).Concat(blocks.Skip(at).Take(size)).ToArray();
                at += size;
                slices.Add(slice);
            }
        }
        return slices;
    }
}

/// <summary>
/// How the coarse levels of a target tree stand for the source tree's classes (the target tree's
/// <c>sources</c>): per target level, a table source class -> target class. Every coarse target level
/// needs one; every source class of the level maps to exactly one target class (so the soft masks of a
/// level sum to one and 'other' is 1 - M as in method.md), and every target class has at least one.
/// </summary>
public sealed class TransferAlignment
{
    /// <summary>Tables[l][source class of level l] = target class of level l, for the coarse levels (0 .. depth - 2).</summary>
    public int[][] Tables { get; }

    public TransferAlignment(ClassHierarchy target, ClassHierarchy source)
    {
        Tables = new int[target.Depth - 1][];
        for (int l = 0; l < target.Depth - 1; l++)
        {
            var c = target.Sources.FirstOrDefault(s => s.Level == l)
                ?? throw new ArgumentException($"target tree '{target.Name}' says nothing about level {l + 1}: its 'sources' must map every coarse level to the source tree '{source.Name}'");
            if (!string.Equals(c.SourceHierarchy, source.Name, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"target tree '{target.Name}' level {l + 1} maps to hierarchy '{c.SourceHierarchy}', but the source checkpoint's tree is '{source.Name}'");
            if (l >= source.Depth) throw new ArgumentException($"target tree '{target.Name}' maps level {l + 1}, but the source tree '{source.Name}' has {source.Depth} levels");
            var table = Enumerable.Repeat(-1, source.Levels[l].Count).ToArray();
            foreach (var (t, names) in c.Classes)
                foreach (var name in names)
                {
                    int s;
                    try { s = source.ClassId(l, name); }
                    catch (KeyNotFoundException e) { throw new ArgumentException($"target tree '{target.Name}' level {l + 1} class '{target.Levels[l].Classes[t].Name}': {e.Message}"); }
                    if (table[s] >= 0) throw new ArgumentException($"target tree '{target.Name}' level {l + 1}: source class '{name}' is given to both '{target.Levels[l].Classes[table[s]].Name}' and '{target.Levels[l].Classes[t].Name}'");
                    table[s] = t;
                }
            if (Array.IndexOf(table, -1) is var miss and >= 0)
                throw new ArgumentException($"target tree '{target.Name}' level {l + 1}: source class '{source.Levels[l].Classes[miss].Name}' is not given to any target class (every source class of the level needs one, e.g. 'other')");
            foreach (var tc in target.Levels[l].Classes)
                if (!table.Contains(tc.Id)) throw new ArgumentException($"target tree '{target.Name}' level {l + 1}: class '{tc.Name}' stands for no source class");
            Tables[l] = table;
        }
    }

    /// <summary>Soft masks of level l: M_t = sum of softmax(Z^S_l) over the source classes of target class t: [B, K_t, H, W].</summary>
    public Tensor Masks(int level, Tensor sourceLogits, int targetClasses)
    {
        var p = sourceLogits.Softmax(1);
        var table = Tables[level];
        return Tensor.Cat(Enumerable.Range(0, targetClasses).Select(t =>
        {
            var members = Enumerable.Range(0, table.Length).Where(s => table[s] == t).ToArray();
            return members.Select(s => p.Narrow(1, s, 1)).Aggregate((x, y) => x + y);
        }).ToArray(), 1);
    }

    /// <summary>
    /// Pseudo-labels of level l: the target class of the source's argmax, nearest-resized (PyTorch's
    /// floor rule) from the logits' size to <paramref name="height"/> x <paramref name="width"/>; NoClass where <paramref name="valid"/> is 0.
    /// </summary>
    public IntTensor PseudoLabels(int level, Tensor sourceLogits, int height, int width, IReadOnlyList<byte[]?>? valid = null)
    {
        int n = sourceLogits.Size(0), k = sourceLogits.Size(1), h = sourceLogits.Size(2), w = sourceLogits.Size(3);
        var z = sourceLogits.Contiguous().ToArray();
        var table = Tables[level];
        var small = new int[n * h * w];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < h * w; i++)
            {
                int best = 0;
                for (int c = 1; c < k; c++) if (z[(b * k + c) * h * w + i] > z[(b * k + best) * h * w + i]) best = c;
                small[b * h * w + i] = table[best];
            }
        var labels = new long[n * height * width];
        for (int b = 0; b < n; b++)
            for (int y = 0; y < height; y++)
            {
                int sy = Math.Min(h - 1, (int)Math.Floor(y * ((double)h / height)));
                for (int x = 0; x < width; x++)
                {
                    int sx = Math.Min(w - 1, (int)Math.Floor(x * ((double)w / width))), i = y * width + x;
                    bool ok = valid?[b] is not { } v || v[i] != 0;
                    labels[(b * height + y) * width + x] = ok ? small[(b * h + sy) * w + sx] : ClassHierarchy.NoClass;
                }
            }
        return new IntTensor(labels, n, height, width);
    }
}

/// <summary>What a TransLU model is made of besides its weights.</summary>
public sealed record TransLuOptions
{
    public bool Cdks { get; init; } = true;
    public bool Cdsa { get; init; } = true;
    public InjectorOptions Injector { get; init; } = new();
}

/// <summary>
/// TransLU (method.md §5): a frozen source model (backbone + BHCCM head, eval mode, no gradients) and a
/// trainable target branch of the same architecture on the same input. CDKS: injectors pass source
/// knowledge into the target backbone after every interaction stage, and each stage output is the GN +
/// ReLU weighted fusion of both branches. CDSA: the target head's initial coarse logits are multiplied by
/// the source's soft masks. The target branch carries the usual names (<c>backbone</c>,
/// <c>decode_head</c>), the source <c>source.*</c>, CDKS <c>cdks.*</c>, so one checkpoint holds it all.
/// </summary>
public sealed class TransLuModel : SegmentationModel
{
    readonly Module backbone;
    readonly DecodeHead head;
    readonly DecodeHead? auxiliary;
    readonly Cdks? cdks;
    readonly IReadOnlyList<int[]> slices;

    public Segmentor Source { get; }
    public override DecodeHead Head => head;
    public TransferAlignment Alignment { get; }
    public TransLuOptions Options { get; }

    public TransLuModel(Segmentor source, ClassHierarchy sourceTree, Segmentor target, ClassHierarchy targetTree, TransLuOptions options)
    {
        if (target.Head.Mode == BhccmMode.Flat) throw new ArgumentException("TransLU needs a hierarchical target head (mode other than flat)");
        if (source.Head.Levels != sourceTree.Depth) throw new ArgumentException($"TransLU needs a hierarchical source model; this one predicts {source.Head.Levels} of its tree's {sourceTree.Depth} levels");
        if (source.Backbone.GetType() != target.Backbone.GetType() || !((IBackbone)source.Backbone).OutChannels.SequenceEqual(((IBackbone)target.Backbone).OutChannels))
            throw new ArgumentException("TransLU: the source and target backbones must have the same architecture");
        Options = options;
        Alignment = new TransferAlignment(targetTree, sourceTree);
        backbone = Register("backbone", target.Backbone);
        head = Register("decode_head", target.Head);
        if (target.Auxiliary is { } aux) auxiliary = Register("auxiliary_head", aux);
        Source = Register("source", source);
        source.Freeze();
        var t = (IStagedBackbone)backbone;
        slices = Cdks.InteractionStages(t.Units);
        if (options.Cdks) cdks = Register("cdks", new Cdks(t, (IStagedBackbone)source.Backbone, slices, options.Injector));
    }

    /// <summary>Both branches; the target's per-level logits at the head's resolution, its auxiliary logits, and the source's.</summary>
    (Tensor[] Main, Tensor[]? Aux, Tensor[] Source) Run(Tensor x)
    {
        var tb = (IStagedBackbone)backbone;
        var sb = (IStagedBackbone)Source.Backbone;
        var units = tb.Units;
        var sourceUnits = sb.Units;
        Tensor xs;
        using (GradMode.NoGrad()) xs = sb.Stem(x);
        var xt = tb.Stem(x);
        var rawT = new Tensor[4];
        var rawS = new Tensor[4];
        for (int j = 0; j < slices.Count; j++)
        {
            foreach (int u in slices[j])
            {
                using (GradMode.NoGrad()) xs = sourceUnits[u].Unit.Forward(xs);
                xt = units[u].Unit.Forward(xt);
            }
            if (cdks is not null) xt = ((Injector)cdks.Injectors[j]).Forward(xt, xs);
            int last = slices[j][^1];
            if (last + 1 == units.Count || units[last + 1].Stage != units[last].Stage)
                (rawT[units[last].Stage], rawS[units[last].Stage]) = (xt, xs);
        }
        Tensor[] zs;
        using (GradMode.NoGrad()) zs = Source.Head.Forward(rawS.Select((f, k) => sb.Output(k, f)).ToArray());
        var features = cdks is not null
            ? rawT.Select((f, k) => ((BranchFusion)cdks.Fusions[k]).Forward(f, rawS[k])).ToArray()
            : rawT.Select((f, k) => tb.Output(k, f)).ToArray();
        var main = head.Classify(head.Features(features), Options.Cdsa ? zin => Align(zin, zs) : null);
        var aux = Training && auxiliary is not null ? auxiliary.Forward(features) : null;
        return (main, aux, zs);
    }

    /// <summary>CDSA: Z_in of each coarse level times the source's soft masks of its classes.</summary>
    Tensor[] Align(Tensor[] zin, Tensor[] sourceLogits)
    {
        var z = (Tensor[])zin.Clone();
        for (int l = 0; l < Alignment.Tables.Length; l++)
        {
            if (sourceLogits[l].Size(2) != z[l].Size(2) || sourceLogits[l].Size(3) != z[l].Size(3))
                throw new InvalidOperationException($"CDSA: source logits {sourceLogits[l].Size(2)} x {sourceLogits[l].Size(3)}, target {z[l].Size(2)} x {z[l].Size(3)}");
            Tensor m;
            using (GradMode.NoGrad()) m = Alignment.Masks(l, sourceLogits[l], z[l].Size(1));
            z[l] = z[l] * m;
        }
        return z;
    }

    public override TrainingOutput ForwardTrain(Tensor x)
    {
        var (main, aux, zs) = Run(x);
        return new TransLuOutput(main, aux, zs, Alignment);
    }

    public override Tensor[] Predict(Tensor x) => Run(x).Main.Select(z => F.Interpolate(z, x.Size(2), x.Size(3))).ToArray();

    /// <summary>How much the target branch draws on the source: each injector's mean |g_ca| and |g_ffn| (0 at the start), each fusion's a_k and b_k (1 at the start).</summary>
    public override IReadOnlyDictionary<string, float> Diagnostics()
    {
        var d = new Dictionary<string, float>();
        if (cdks is null) return d;
        static float MeanAbs(Tensor t) { var s = t.Contiguous().Span; float sum = 0; foreach (var v in s) sum += Math.Abs(v); return sum / s.Length; }
        for (int k = 0; k < cdks.Injectors.Count; k++)
        {
            var inj = (Injector)cdks.Injectors[k];
            (d[$"g_ca{k}"], d[$"g_ffn{k}"]) = (MeanAbs(inj.Gamma), MeanAbs(inj.FfnGamma));
        }
        for (int k = 0; k < cdks.Fusions.Count; k++) (d[$"a{k}"], d[$"b{k}"]) = ((BranchFusion)cdks.Fusions[k]).Weights;
        return d;
    }
}

/// <summary>
/// A TransLU training forward: besides the target's logits, the frozen source's, from which method.md §5's
/// loss takes the coarse levels' labels.
/// </summary>
public sealed class TransLuOutput(Tensor[] main, Tensor[]? aux, Tensor[] sourceLogits, TransferAlignment alignment) : TrainingOutput(main, aux)
{
    /// <summary>The source head's per-level logits at its resolution.</summary>
    public Tensor[] SourceLogits { get; } = sourceLogits;

    /// <summary>The finest level as given, the coarse levels replaced by pseudo-labels from the source's logits (NoClass at nodata pixels).</summary>
    public override IntTensor[] Targets(IntTensor[] labels, IReadOnlyList<byte[]?>? valid = null)
    {
        int h = labels[0].Size(1), w = labels[0].Size(2);
        return labels.Select((y, l) => l < alignment.Tables.Length ? alignment.PseudoLabels(l, SourceLogits[l], h, w, valid) : y).ToArray();
    }
}
