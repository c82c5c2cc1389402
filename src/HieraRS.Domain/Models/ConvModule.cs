using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>MMCV's ConvModule: conv (no bias when normalised) -> BatchNorm -> ReLU, named conv / bn.</summary>
public sealed class ConvModule : Module
{
    public readonly Conv2d Conv;
    public readonly BatchNorm2d? Bn;
    readonly bool relu;
    /// <summary>Whether a ReLU follows the norm (the ONNX exporter reads it).</summary>
    internal bool HasRelu => relu;

    public ConvModule(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        int groups = 1, bool norm = true, bool relu = true)
    {
        Conv = Register("conv", new Conv2d(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias: !norm));
        if (norm) Bn = Register("bn", new BatchNorm2d(outChannels));
        this.relu = relu;
    }

    public override Tensor Forward(Tensor x) => Conv.Forward(x, Bn, relu);
}
