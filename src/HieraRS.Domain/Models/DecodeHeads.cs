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
        var pooled = new List<Tensor> { x };
        foreach (var m in psp) pooled.Add(F.Interpolate(m.Forward(x), x.Size(2), x.Size(3)));
        var laterals = new Tensor[n];
        for (int i = 0; i < n - 1; i++) laterals[i] = lateral[i].Forward(inputs[i]);
        laterals[^1] = bottleneck.Forward(Tensor.Cat(pooled.ToArray(), 1));
        for (int i = n - 1; i > 0; i--)
            laterals[i - 1] = laterals[i - 1] + F.Interpolate(laterals[i], laterals[i - 1].Size(2), laterals[i - 1].Size(3));
        var outs = new Tensor[n];
        for (int i = 0; i < n - 1; i++) outs[i] = fpn[i].Forward(laterals[i]);
        outs[^1] = laterals[^1];
        int h = outs[0].Size(2), w = outs[0].Size(3);
        for (int i = 1; i < n; i++) outs[i] = F.Interpolate(outs[i], h, w);
        return fpnBottleneck.Forward(Tensor.Cat(outs, 1));
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
