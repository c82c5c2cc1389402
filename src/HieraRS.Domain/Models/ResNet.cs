using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>torchvision's BasicBlock: two 3x3 conv-BN with an identity or 1x1 projection shortcut.</summary>
public sealed class BasicBlock : Module
{
    public const int Expansion = 1;
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly Sequential? downsample;

    public BasicBlock(int inPlanes, int planes, int stride = 1, Sequential? downsample = null)
    {
        conv1 = Register("conv1", new Conv2d(inPlanes, planes, 3, stride, 1, bias: false));
        bn1 = Register("bn1", new BatchNorm2d(planes));
        conv2 = Register("conv2", new Conv2d(planes, planes, 3, 1, 1, bias: false));
        bn2 = Register("bn2", new BatchNorm2d(planes));
        if (downsample is not null) this.downsample = Register("downsample", downsample);
    }

    public override Tensor Forward(Tensor x)
    {
        var identity = downsample is null ? x : downsample.Forward(x);
        var y = bn1.Forward(conv1.Forward(x)).Relu();
        y = bn2.Forward(conv2.Forward(y));
        return (y + identity).Relu();
    }
}

/// <summary>
/// ResNet V1 with BasicBlocks in torchvision's layout (conv1, bn1, layer1..layer4), returning the
/// four stage outputs (strides 4, 8, 16, 32) for dense prediction heads.
/// </summary>
public sealed class ResNet : Module, IBackbone
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Sequential[] layers;
    public int[] OutChannels { get; }

    public ResNet(int[] blocks, int inChannels = 3)
    {
        if (blocks.Length != 4) throw new ArgumentException("ResNet needs four stage depths");
        conv1 = Register("conv1", new Conv2d(inChannels, 64, 7, 2, 3, bias: false));
        bn1 = Register("bn1", new BatchNorm2d(64));
        int inPlanes = 64;
        layers = new Sequential[4];
        var widths = new[] { 64, 128, 256, 512 };
        for (int s = 0; s < 4; s++)
        {
            int planes = widths[s], stride = s == 0 ? 1 : 2;
            var layer = new Sequential();
            for (int b = 0; b < blocks[s]; b++)
            {
                Sequential? down = null;
                if (b == 0 && (stride != 1 || inPlanes != planes))
                    down = new Sequential(new Conv2d(inPlanes, planes, 1, stride, bias: false), new BatchNorm2d(planes));
                layer.Append(new BasicBlock(inPlanes, planes, b == 0 ? stride : 1, down));
                inPlanes = planes;
            }
            layers[s] = Register($"layer{s + 1}", layer);
        }
        OutChannels = widths;
        InitWeights();
    }

    public static ResNet ResNet18(int inChannels = 3) => new([2, 2, 2, 2], inChannels);
    public static ResNet ResNet34(int inChannels = 3) => new([3, 4, 6, 3], inChannels);

    /// <summary>torchvision's init: kaiming normal (fan_out, relu) for convs, BN weight 1 and bias 0.</summary>
    void InitWeights()
    {
        foreach (var (_, m) in NamedModules())
            if (m is Conv2d c) Init.KaimingNormal(c.Weight, fanIn: false, nonlinearity: "relu");
    }

    public Tensor[] ForwardFeatures(Tensor x)
    {
        x = F.MaxPool2d(bn1.Forward(conv1.Forward(x)).Relu(), 3, 2, 1);
        var outs = new Tensor[4];
        for (int s = 0; s < 4; s++) outs[s] = x = layers[s].Forward(x);
        return outs;
    }
}
