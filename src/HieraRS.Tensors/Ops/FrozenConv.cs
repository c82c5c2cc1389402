using System.Numerics.Tensors;

namespace HieraRS.Tensors;

/// <summary>
/// A convolution whose weights no longer change (inference), as a deployment runtime holds it: a batch
/// norm that followed it already folded into the weights and bias by the caller, the weights' Winograd
/// transform computed once and kept, and the bias and a ReLU applied in one pass over the output, in
/// place, instead of three passes that each allocate a tensor. 3x3 convolutions on maps of 32 x 32 or more
/// run as Winograd F(4x4, 3x3) (<see cref="Winograd4"/>). Records no gradients.
/// </summary>
public sealed class FrozenConv2d
{
    readonly float[] weight;
    readonly float[]? bias;
    readonly int outChannels, inPerGroup, groups;
    readonly (int H, int W) kernel, stride, padding, dilation;
    float[]? winograd, winograd4;

    /// <param name="weight">[O, C/groups, kh, kw], copied.</param>
    /// <param name="bias">[O], or null.</param>
    public FrozenConv2d(Tensor weight, float[]? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, int groups)
    {
        if (weight.Rank != 4) throw new ArgumentException($"conv2d expects a 4-D weight, got {ShapeUtil.Format(weight.Shape)}");
        this.weight = weight.Contiguous().ToArray();
        outChannels = weight.Size(0); inPerGroup = weight.Size(1); kernel = (weight.Size(2), weight.Size(3));
        if (bias is not null && bias.Length != outChannels) throw new ArgumentException($"conv2d: bias must be [{outChannels}]");
        (this.bias, this.stride, this.padding, this.dilation, this.groups) = (bias, stride, padding, dilation, groups);
    }

    /// <summary>conv(x) + bias, then max(., 0) when <paramref name="relu"/>.</summary>
    public Tensor Forward(Tensor x, bool relu)
    {
        if (x.Rank != 4 || x.Size(1) != inPerGroup * groups)
            throw new ArgumentException($"conv2d: input {ShapeUtil.Format(x.Shape)} for weight [{outChannels}, {inPerGroup}, {kernel.H}, {kernel.W}] and groups {groups}");
        var g = new ConvGeom(x.Size(0), x.Size(1), x.Size(2), x.Size(3), outChannels, kernel.H, kernel.W,
            stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, groups);
        if (g.Ho <= 0 || g.Wo <= 0) throw new ArgumentException($"conv2d: input {g.H}x{g.W} too small for kernel {g.Kh}x{g.Kw}");
        var xc = x.Contiguous();
        var y = Tensor.Empty(g.N, g.O, g.Ho, g.Wo);
        if (groups == g.C && g.O == g.C) ConvKernels.DepthwiseForward(g, xc.Storage, xc.Offset, weight, 0, y.Storage);
        else if (Winograd4.Eligible(g)) Winograd4.Forward(g, xc.Storage, xc.Offset, winograd4 ??= Winograd4.TransformWeights(g, weight, 0), y.Storage);
        else if (ImplicitGemm.Eligible(g)) ImplicitGemm.Forward(g, xc.Storage, xc.Offset, weight, 0, y.Storage);
        else ConvKernels.GemmForward(g, xc.Storage, xc.Offset, weight, 0, y.Storage, () => winograd ??= Winograd.TransformWeights(g, weight, 0));
        if (bias is not null || relu) BiasRelu(y.Storage, g.N, g.Ho * g.Wo, relu);
        if (Profiler.Enabled) Profiler.Forward($"frozen conv2d {g.Kh}x{g.Kw}/{g.Sh} {g.C}->{g.O}@{g.H}" + (relu ? " +relu" : ""));
        return y;
    }

    void BiasRelu(float[] y, int n, int hw, bool relu)
    {
        var b = bias;
        int o = outChannels;
        Engine.For(n * o, hw, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var s = y.AsSpan(p * hw, hw);
                if (b is not null) TensorPrimitives.Add(s, b[p % o], s);
                if (relu) TensorPrimitives.Max(s, 0f, s);
            }
        });
    }
}
