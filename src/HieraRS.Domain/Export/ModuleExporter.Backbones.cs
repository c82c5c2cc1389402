using HieraRS.Domain.Models;
using HieraRS.NN;

namespace HieraRS.Domain.Export;

/// <summary>The backbones (ResNet, ConvNeXt) and their blocks.</summary>
public sealed partial class ModuleExporter
{
    /// <summary>The four stage outputs of a backbone, as <see cref="IBackbone.ForwardFeatures"/>.</summary>
    public Value[] Features(Module backbone, Value x, string path) => backbone switch
    {
        ResNet => ResNetFeatures(backbone, x, path),
        ConvNeXt => ConvNeXtFeatures(backbone, x, path),
        _ => throw Unsupported(backbone, path),
    };

    /// <summary>Stem (7x7 conv-BN-ReLU, or V1c's three 3x3), 3x3 stride-2 max pooling, layer1 ... layer4.</summary>
    Value[] ResNetFeatures(Module r, Value x, string path)
    {
        x = OptionalChild(r, "stem") is { } stem ? Apply(stem, x, Join(path, "stem"))
            : Apply(new ReLU(), Apply(Child(r, "bn1", path), Apply(Child(r, "conv1", path), x, Join(path, "conv1")), Join(path, "bn1")), Join(path, "relu"));
        x = MaxPool(x, 3, 2, 1, Join(path, "maxpool"));
        var outs = new Value[4];
        for (int s = 0; s < 4; s++) outs[s] = x = Apply(Child(r, $"layer{s + 1}", path), x, Join(path, $"layer{s + 1}"));
        return outs;
    }

    /// <summary>BasicBlock (2 conv-BN) or Bottleneck (3): ReLU between them, the shortcut added before the last ReLU.</summary>
    Value ResidualBlock(Module block, int convs, Value x, string path)
    {
        var identity = OptionalChild(block, "downsample") is { } down ? Apply(down, x, Join(path, "downsample")) : x;
        var y = x;
        for (int i = 1; i <= convs; i++)
        {
            y = Apply(Child(block, $"bn{i}", path), Apply(Child(block, $"conv{i}", path), y, Join(path, $"conv{i}")), Join(path, $"bn{i}"));
            if (i < convs) y = Apply(new ReLU(), y, Join(path, $"relu{i}"));
        }
        return Apply(new ReLU(), Add(y, identity, path), path);
    }

    /// <summary>Per stage: its downsampler (stem for stage 0), its blocks, and the output norm (the stream itself stays un-normed).</summary>
    Value[] ConvNeXtFeatures(Module c, Value x, string path)
    {
        var down = (ModuleList)Child(c, "downsample_layers", path);
        var stages = (ModuleList)Child(c, "stages", path);
        var outs = new Value[4];
        for (int s = 0; s < 4; s++)
        {
            x = Apply(down[s], x, Join(path, $"downsample_layers.{s}"));
            x = Apply(stages[s], x, Join(path, $"stages.{s}"));
            outs[s] = Apply(Child(c, $"norm{s}", path), x, Join(path, $"norm{s}"));
        }
        return outs;
    }

    /// <summary>7x7 depthwise conv, LayerNorm, Linear, GELU, Linear (channels last), layer scale, residual.</summary>
    Value ConvNeXtBlockGraph(Module b, Value x, string path)
    {
        var y = Apply(Child(b, "dwconv", path), x, Join(path, "dwconv"));
        var t = Graph.Op("Transpose", path, [y.Name], OnnxGraph.Ints("perm", 0, 2, 3, 1));
        t = LastAxisLayerNorm((LayerNorm)Child(b, "norm", path), t, Join(path, "norm"));
        t = Linear((Linear)Child(b, "pwconv1", path), t, Join(path, "pwconv1"));
        t = Linear((Linear)Child(b, "pwconv2", path), Gelu(t, Join(path, "act")), Join(path, "pwconv2"));
        if (OwnParameter(b, "gamma") is { } gamma) t = Graph.Op("Mul", path, [t, Graph.Weight(Join(path, "gamma"), gamma)]);
        return Add(x, x with { Name = Graph.Op("Transpose", path, [t], OnnxGraph.Ints("perm", 0, 3, 1, 2)) }, path);
    }
}
