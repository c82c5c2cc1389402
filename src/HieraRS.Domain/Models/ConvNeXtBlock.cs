using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>
/// ConvNeXt block (official layout): 7x7 depthwise conv, LayerNorm over channels (eps 1e-6),
/// Linear C->4C, GELU, Linear 4C->C, layer scale gamma, drop path, residual.
/// </summary>
public sealed class ConvNeXtBlock : Module
{
    readonly Conv2d dwconv;
    readonly LayerNorm norm;
    readonly Linear pwconv1, pwconv2;
    readonly Tensor? gamma;
    readonly DropPath dropPath;

    public ConvNeXtBlock(int dim, float dropPath = 0f, float layerScaleInit = 1e-6f)
    {
        dwconv = Register("dwconv", new Conv2d(dim, dim, 7, padding: 3, groups: dim));
        norm = Register("norm", new LayerNorm(dim, 1e-6f));
        pwconv1 = Register("pwconv1", new Linear(dim, 4 * dim));
        pwconv2 = Register("pwconv2", new Linear(4 * dim, dim));
        if (layerScaleInit > 0) gamma = RegisterParameter("gamma", Tensor.Full(layerScaleInit, dim));
        this.dropPath = Register("drop_path", new DropPath(dropPath));
    }

    public override Tensor Forward(Tensor x)
    {
        var y = dwconv.Forward(x).Permute(0, 2, 3, 1); // N,H,W,C
        y = pwconv2.Forward(pwconv1.Forward(norm.Forward(y)).Gelu());
        if (gamma is not null) y = y * gamma;
        return x + dropPath.Forward(y.Permute(0, 3, 1, 2));
    }
}
