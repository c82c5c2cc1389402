using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>
/// MMSegmentation's UPerHead: a pyramid pooling module (average pools to 1, 2, 3, 6, 1x1 conv each,
/// upsampled back) on the last stage, an FPN over the others (1x1 laterals, top-down sums, 3x3 convs),
/// everything upsampled to 1/4 and fused by a 3x3 conv: <c>fpn_bottleneck</c>'s output is F.
/// </summary>
public sealed class UPerHead : DecodeHead
{
    readonly ModuleList psp, lateral, fpn;
    readonly ConvModule bottleneck, fpnBottleneck;
    readonly int[] poolScales;

    public UPerHead(int[] inChannels, int channels, int[] classCounts, BhccmMode mode = BhccmMode.BidirectionalResidual,
        int[]? poolScales = null, float dropout = 0.1f, bool mergeRelu = false) : base(channels, classCounts, mode, dropout, mergeRelu)
    {
        this.poolScales = poolScales ?? [1, 2, 3, 6];
        int last = inChannels[^1];
        psp = Register("psp_modules", new ModuleList(this.poolScales.Select(s =>
            (Module)new Sequential(new AdaptiveAvgPool2d(s, s), new ConvModule(last, channels, 1)))));
        bottleneck = Register("bottleneck", new ConvModule(last + this.poolScales.Length * channels, channels, 3, padding: 1));
        lateral = Register("lateral_convs", new ModuleList(inChannels[..^1].Select(c => (Module)new ConvModule(c, channels, 1))));
        fpn = Register("fpn_convs", new ModuleList(inChannels[..^1].Select(_ => (Module)new ConvModule(channels, channels, 3, padding: 1))));
        fpnBottleneck = Register("fpn_bottleneck", new ConvModule(inChannels.Length * channels, channels, 3, padding: 1));
    }

    public override Tensor Features(Tensor[] inputs)
    {
        int n = inputs.Length;
        var x = inputs[^1];
        // in inference every intermediate is released once used, so the next one takes its memory (Tensor.Release)
        var pooled = new List<Tensor> { x };
        foreach (var m in psp) pooled.Add(F.Interpolate(m.Forward(x), x.Size(2), x.Size(3)));
        var laterals = new Tensor[n];
        for (int i = 0; i < n - 1; i++) laterals[i] = lateral[i].Forward(inputs[i]);
        laterals[^1] = Consume(bottleneck.Forward, Tensor.Cat(pooled.ToArray(), 1), pooled.Skip(1));
        for (int i = n - 1; i > 0; i--)
        {
            var up = F.Interpolate(laterals[i], laterals[i - 1].Size(2), laterals[i - 1].Size(3));
            laterals[i - 1] = Consume(t => t + up, laterals[i - 1], [up]);
        }
        var outs = new Tensor[n];
        for (int i = 0; i < n - 1; i++) outs[i] = Consume(fpn[i].Forward, laterals[i], []);
        outs[^1] = laterals[^1];
        int h = outs[0].Size(2), w = outs[0].Size(3);
        for (int i = 1; i < n; i++) outs[i] = Consume(t => F.Interpolate(t, h, w), outs[i], []);
        return Consume(fpnBottleneck.Forward, Tensor.Cat(outs, 1), outs);
    }

    /// <summary><paramref name="f"/> of <paramref name="x"/>; then x and <paramref name="parts"/> (what x was made of) are released.</summary>
    static Tensor Consume(Func<Tensor, Tensor> f, Tensor x, IEnumerable<Tensor> parts)
    {
        var y = f(x);
        x.Release();
        foreach (var p in parts) p.Release();
        return y;
    }
}

/// <summary>
/// MMSegmentation's FCNHead on one backbone stage (<paramref name="inIndex"/>): num_convs 3x3
/// ConvModules (<c>convs.i</c>), optionally concatenated with the input and fused (<c>conv_cat</c>).
/// As the auxiliary head it is usually flat, on stage 3 (index 2), 256 channels.
/// </summary>
public sealed class FcnHead : DecodeHead
{
    readonly Sequential convs;
    readonly ConvModule? convCat;
    readonly int inIndex;
    /// <summary>The backbone stage it reads (the ONNX exporter reads it).</summary>
    internal int InIndex => inIndex;

    public FcnHead(int inChannels, int channels, int[] classCounts, int inIndex = 2, int numConvs = 1, bool concatInput = false,
        BhccmMode mode = BhccmMode.Flat, float dropout = 0.1f, int dilation = 1) : base(channels, classCounts, mode, dropout, false)
    {
        this.inIndex = inIndex;
        convs = Register("convs", new Sequential(Enumerable.Range(0, numConvs).Select(i =>
            (Module)new ConvModule(i == 0 ? inChannels : channels, channels, 3, padding: dilation, dilation: dilation)).ToArray()));
        if (concatInput) convCat = Register("conv_cat", new ConvModule(inChannels + channels, channels, 3, padding: 1));
    }

    public override Tensor Features(Tensor[] inputs)
    {
        var x = inputs[inIndex];
        var y = convs.Forward(x);
        return convCat is null ? y : convCat.Forward(Tensor.Cat([x, y], 1));
    }
}

/// <summary>MMCV's DepthwiseSeparableConvModule: <c>depthwise_conv</c> (k x k, groups = channels) and <c>pointwise_conv</c> (1x1), each conv-BN-ReLU.</summary>
public sealed class DepthwiseSeparableConvModule : Module
{
    readonly ConvModule depthwise, pointwise;

    public DepthwiseSeparableConvModule(int inChannels, int outChannels, int kernelSize, int padding = 0, int dilation = 1)
    {
        depthwise = Register("depthwise_conv", new ConvModule(inChannels, inChannels, kernelSize, padding: padding, dilation: dilation, groups: inChannels));
        pointwise = Register("pointwise_conv", new ConvModule(inChannels, outChannels, 1));
    }

    public override Tensor Forward(Tensor x) => pointwise.Forward(depthwise.Forward(x));
}

/// <summary>
/// MMSegmentation's DepthwiseSeparableASPPHead (DeepLabV3+): on the last stage, an image-level pool
/// branch and ASPP branches (1x1 for dilation 1, depthwise-separable 3x3 for the others), fused by a
/// 3x3 <c>bottleneck</c>; upsampled to stage 1 (1/4) and concatenated with its 48-channel
/// <c>c1_bottleneck</c> projection; two depthwise-separable 3x3 convs (<c>sep_bottleneck</c>) give F.
/// </summary>
public sealed class DepthwiseSeparableAsppHead : DecodeHead
{
    readonly Sequential imagePool;
    readonly ModuleList aspp;
    readonly ConvModule bottleneck;
    readonly ConvModule? c1;
    readonly Sequential sep;

    public DepthwiseSeparableAsppHead(int[] inChannels, int channels, int[] classCounts, BhccmMode mode = BhccmMode.BidirectionalResidual,
        int[]? dilations = null, int c1Channels = 48, float dropout = 0.1f, bool mergeRelu = false) : base(channels, classCounts, mode, dropout, mergeRelu)
    {
        dilations ??= [1, 12, 24, 36];
        int last = inChannels[^1];
        imagePool = Register("image_pool", new Sequential(new AdaptiveAvgPool2d(1, 1), new ConvModule(last, channels, 1)));
        aspp = Register("aspp_modules", new ModuleList(dilations.Select(d => d == 1
            ? (Module)new ConvModule(last, channels, 1)
            : new DepthwiseSeparableConvModule(last, channels, 3, padding: d, dilation: d))));
        bottleneck = Register("bottleneck", new ConvModule((dilations.Length + 1) * channels, channels, 3, padding: 1));
        if (c1Channels > 0) c1 = Register("c1_bottleneck", new ConvModule(inChannels[0], c1Channels, 1));
        sep = Register("sep_bottleneck", new Sequential(
            new DepthwiseSeparableConvModule(channels + Math.Max(c1Channels, 0), channels, 3, padding: 1),
            new DepthwiseSeparableConvModule(channels, channels, 3, padding: 1)));
    }

    public override Tensor Features(Tensor[] inputs)
    {
        var x = inputs[^1];
        var outs = new List<Tensor> { F.Interpolate(imagePool.Forward(x), x.Size(2), x.Size(3)) };
        foreach (var m in aspp) outs.Add(m.Forward(x));
        var y = bottleneck.Forward(Tensor.Cat(outs.ToArray(), 1));
        if (c1 is not null)
        {
            var low = c1.Forward(inputs[0]);
            y = Tensor.Cat([F.Interpolate(y, low.Size(2), low.Size(3)), low], 1);
        }
        return sep.Forward(y);
    }
}
