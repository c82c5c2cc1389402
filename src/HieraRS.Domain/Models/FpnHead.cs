using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>
/// A light FPN-style head: a 1x1 lateral conv per stage to a common width, all upsampled to the
/// first stage's resolution (1/4), concatenated, fused by 3x3 conv-BN-ReLU, then a 1x1 classifier.
/// </summary>
public sealed class FpnHead : Module
{
    readonly ModuleList lateral;
    readonly ConvModule fuse;
    readonly Conv2d convSeg;

    public FpnHead(int[] inChannels, int channels, int numClasses)
    {
        lateral = Register("lateral_convs", new ModuleList(inChannels.Select(c => (Module)new Conv2d(c, channels, 1))));
        fuse = Register("fuse", new ConvModule(channels * inChannels.Length, channels, 3, padding: 1));
        convSeg = Register("conv_seg", new Conv2d(channels, numClasses, 1));
    }

    public Tensor Forward(Tensor[] features)
    {
        int h = features[0].Size(2), w = features[0].Size(3);
        var ups = new Tensor[features.Length];
        for (int i = 0; i < features.Length; i++)
        {
            var l = lateral[i].Forward(features[i]);
            ups[i] = i == 0 ? l : F.Interpolate(l, h, w);
        }
        return convSeg.Forward(fuse.Forward(Tensor.Cat(ups, 1)));
    }
}

/// <summary>ResNet backbone + FPN-style head; logits upsampled bilinearly to the input size.</summary>
public sealed class ResNetFpn : Module
{
    public readonly ResNet Backbone;
    public readonly FpnHead Head;

    public ResNetFpn(ResNet backbone, int channels, int numClasses)
    {
        Backbone = Register("backbone", backbone);
        Head = Register("decode_head", new FpnHead(backbone.OutChannels, channels, numClasses));
    }

    public override Tensor Forward(Tensor x) =>
        F.Interpolate(Head.Forward(Backbone.ForwardFeatures(x)), x.Size(2), x.Size(3));
}
