using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.NN.Onnx;
using HieraRS.Tensors;

namespace HieraRS.Domain.Export;

/// <summary>
/// Writes modules into an <see cref="OnnxGraph"/> as inference (eval mode: running batch statistics, no
/// dropout or drop path), one method per module kind; shapes are tracked statically for a fixed window.
/// A module it has no exporter for is an error naming its path and type. This file: the building blocks.
/// </summary>
public sealed partial class ModuleExporter(OnnxGraph graph)
{
    public OnnxGraph Graph { get; } = graph;

    /// <summary>A single-input module applied to <paramref name="x"/>.</summary>
    public Value Apply(Module m, Value x, string path) => m switch
    {
        Conv2d c => Conv(c, x, path),
        BatchNorm2d bn => BatchNorm(bn, x, path),
        LayerNorm { ChannelsFirst: true } ln => ChannelsFirstLayerNorm(ln, x, path),
        ReLU => Unary("Relu", x, path),
        Sigmoid => Unary("Sigmoid", x, path),
        GELU => x with { Name = Gelu(x.Name, path) },
        Identity or Dropout or Dropout2d or DropPath => x,
        AdaptiveAvgPool2d p => AdaptiveAvgPool(x, p.OutH, p.OutW, path),
        Sequential s => s.NamedChildren().Aggregate(x, (v, c) => Apply(c.Module, v, Join(path, c.Name))),
        ConvModule cm => ConvModuleGraph(cm, x, path),
        DepthwiseSeparableConvModule => Apply(Child(m, "pointwise_conv", path), Apply(Child(m, "depthwise_conv", path), x, Join(path, "depthwise_conv")), Join(path, "pointwise_conv")),
        BasicBlock => ResidualBlock(m, 2, x, path),
        Bottleneck => ResidualBlock(m, 3, x, path),
        ConvNeXtBlock => ConvNeXtBlockGraph(m, x, path),
        _ => throw Unsupported(m, path),
    };

    public static NotSupportedException Unsupported(Module m, string path) =>
        new($"ONNX export: no exporter for module '{(path.Length == 0 ? "(model)" : path)}' ({m.GetType().Name})");

    public static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    /// <summary>A registered child by its state-dict name (the exporters read modules by the names their weights have).</summary>
    public static Module Child(Module m, string name, string path) => OptionalChild(m, name)
        ?? throw new InvalidOperationException($"ONNX export: '{Join(path, name)}' is missing from {m.GetType().Name}");

    public static Module? OptionalChild(Module m, string name) => m.NamedChildren().FirstOrDefault(c => c.Name == name).Module;

    /// <summary>A module's own parameter (not a descendant's) by name.</summary>
    public static Tensor? OwnParameter(Module m, string name) => m.NamedParameters().FirstOrDefault(p => p.Name == name).Parameter;

    public Value Conv(Conv2d c, Value x, string path) => Conv(c, c.Weight, x, path);

    /// <summary>A convolution with the module's geometry and bias and the given weight (a Linear folded to 1x1 passes its own).</summary>
    public Value Conv(Conv2d c, Tensor weight, Value x, string path)
    {
        var inputs = new List<string> { x.Name, Graph.Weight(Join(path, "weight"), weight) };
        if (c.Bias is { } b) inputs.Add(Graph.Weight(Join(path, "bias"), b));
        var (k, s, p, d) = (c.KernelSize, c.Stride, c.Padding, c.Dilation);
        var y = Graph.Op("Conv", path, inputs, OnnxGraph.Ints("kernel_shape", k.H, k.W), OnnxGraph.Ints("strides", s.H, s.W),
            OnnxGraph.Ints("pads", p.H, p.W, p.H, p.W), OnnxGraph.Ints("dilations", d.H, d.W), OnnxGraph.Int("group", c.Groups));
        return new Value(y, c.OutChannels, OutSize(x.H, k.H, s.H, p.H, d.H), OutSize(x.W, k.W, s.W, p.W, d.W));
    }

    static int OutSize(int size, int kernel, int stride, int pad, int dilation) => (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;

    Value BatchNorm(BatchNorm2d bn, Value x, string path)
    {
        if (bn.RunningMean is null || bn.RunningVar is null)
            throw new NotSupportedException($"ONNX export: '{path}' (BatchNorm2d) keeps no running statistics, so it has no inference form");
        int c = bn.RunningMean.Numel;
        var scale = bn.Weight is { } w ? Graph.Weight(Join(path, "weight"), w) : Graph.Floats(Join(path, "weight"), Enumerable.Repeat(1f, c).ToArray(), c);
        var shift = bn.Bias is { } b ? Graph.Weight(Join(path, "bias"), b) : Graph.Floats(Join(path, "bias"), new float[c], c);
        var y = Graph.Op("BatchNormalization", path, [x.Name, scale, shift, Graph.Weight(Join(path, "running_mean"), bn.RunningMean),
            Graph.Weight(Join(path, "running_var"), bn.RunningVar)], OnnxGraph.Float("epsilon", bn.Eps));
        return x with { Name = y };
    }

    /// <summary>LayerNorm over channels of NCHW: to NHWC, LayerNormalization over the last axis, back.</summary>
    Value ChannelsFirstLayerNorm(LayerNorm ln, Value x, string path)
    {
        var nhwc = Graph.Op("Transpose", path, [x.Name], OnnxGraph.Ints("perm", 0, 2, 3, 1));
        return x with { Name = Graph.Op("Transpose", path, [LastAxisLayerNorm(ln, nhwc, path)], OnnxGraph.Ints("perm", 0, 3, 1, 2)) };
    }

    /// <summary>LayerNormalization (opset 17) or, before it, its arithmetic: (x - mean) / sqrt(biased var + eps) * w + b.</summary>
    string LastAxisLayerNorm(LayerNorm ln, string x, string path)
    {
        string w = Graph.Weight(Join(path, "weight"), ln.Weight), b = Graph.Weight(Join(path, "bias"), ln.Bias);
        if (Graph.Opset >= 17) return Graph.Op("LayerNormalization", path, [x, w, b], OnnxGraph.Int("axis", -1), OnnxGraph.Float("epsilon", ln.Eps));
        string Mean(string v) => Graph.Op("ReduceMean", path, [v], OnnxGraph.Ints("axes", -1), OnnxGraph.Int("keepdims", 1));
        var d = Graph.Op("Sub", path, [x, Mean(x)]);
        var sd = Graph.Op("Sqrt", path, [Graph.Op("Add", path, [Mean(Graph.Op("Mul", path, [d, d])), Scalar(path, ln.Eps)])]);
        return Graph.Op("Add", path, [Graph.Op("Mul", path, [Graph.Op("Div", path, [d, sd]), w]), b]);
    }

    /// <summary>y = x W^T + b over the last axis (any rank).</summary>
    string Linear(Linear l, string x, string path)
    {
        int o = l.Weight.Size(0), i = l.Weight.Size(1);
        var w = l.Weight.ToArray();
        var wt = new float[w.Length];
        for (int r = 0; r < o; r++)
            for (int c = 0; c < i; c++) wt[c * o + r] = w[r * i + c];
        var y = Graph.Op("MatMul", path, [x, Graph.Floats(Join(path, "weight"), wt, i, o)]);
        return l.Bias is { } b ? Graph.Op("Add", path, [y, Graph.Weight(Join(path, "bias"), b)]) : y;
    }

    Value Unary(string op, Value x, string path) => x with { Name = Graph.Op(op, path, [x.Name]) };

    /// <summary>Exact (erf) GELU as our engine computes it; ONNX has a Gelu op only from opset 20.</summary>
    string Gelu(string x, string path)
    {
        var erf = Graph.Op("Erf", path, [Graph.Op("Mul", path, [x, Scalar(path, 0.7071067811865476f)])]);
        var y = Graph.Op("Mul", path, [x, Graph.Op("Add", path, [erf, Scalar(path, 1f)])]);
        return Graph.Op("Mul", path, [y, Scalar(path, 0.5f)]);
    }

    public string Scalar(string path, float v) => Graph.Floats(Join(path, "const"), [v]);

    public Value MaxPool(Value x, int kernel, int stride, int pad, string path)
    {
        var y = Graph.Op("MaxPool", path, [x.Name], OnnxGraph.Ints("kernel_shape", kernel, kernel), OnnxGraph.Ints("strides", stride, stride),
            OnnxGraph.Ints("pads", pad, pad, pad, pad));
        return new Value(y, x.C, OutSize(x.H, kernel, stride, pad, 1), OutSize(x.W, kernel, stride, pad, 1));
    }

    /// <summary>
    /// Adaptive average pooling for the window's fixed size (ONNX has none): global pooling for 1x1, AveragePool
    /// when the size divides evenly, else each bin [floor(i H / s), ceil((i + 1) H / s)) sliced and averaged, as PyTorch.
    /// </summary>
    public Value AdaptiveAvgPool(Value x, int oh, int ow, string path)
    {
        if (oh == 1 && ow == 1) return new Value(Graph.Op("GlobalAveragePool", path, [x.Name]), x.C, 1, 1);
        if (x.H % oh == 0 && x.W % ow == 0)
        {
            int kh = x.H / oh, kw = x.W / ow;
            return new Value(Graph.Op("AveragePool", path, [x.Name], OnnxGraph.Ints("kernel_shape", kh, kw), OnnxGraph.Ints("strides", kh, kw)), x.C, oh, ow);
        }
        var rows = new List<string>();
        for (int i = 0; i < oh; i++)
        {
            var row = Slice(x.Name, 2, i * x.H / oh, ((i + 1) * x.H + oh - 1) / oh, path);
            var cells = Enumerable.Range(0, ow).Select(j => Graph.Op("ReduceMean", path,
                [Slice(row, 3, j * x.W / ow, ((j + 1) * x.W + ow - 1) / ow, path)], OnnxGraph.Ints("axes", 2, 3), OnnxGraph.Int("keepdims", 1)));
            rows.Add(Graph.Op("Concat", path, cells, OnnxGraph.Int("axis", 3)));
        }
        return new Value(Graph.Op("Concat", path, rows, OnnxGraph.Int("axis", 2)), x.C, oh, ow);
    }

    string Slice(string x, int axis, int start, int end, string path) =>
        Graph.Op("Slice", path, [x, Graph.Int64s(Join(path, "starts"), [start]), Graph.Int64s(Join(path, "ends"), [end]), Graph.Int64s(Join(path, "axes"), [axis])]);

    /// <summary>
    /// Bilinear resize to the size of <paramref name="like"/> as <see cref="F.Interpolate"/> (align_corners false unless
    /// asked); the sizes are read from the tensors in the graph, so the graph holds for other input sizes where nothing else fixes them.
    /// </summary>
    public Value Resize(Value x, Value like, string path, bool alignCorners = false)
    {
        if (!Graph.DynamicSize && x.H == like.H && x.W == like.W) return x; // (at another size, equal here need not mean equal there)
        var nc = Graph.Op("Shape", path, [x.Name], OnnxGraph.Int("start", 0), OnnxGraph.Int("end", 2));
        var hw = Graph.Op("Shape", path, [like.Name], OnnxGraph.Int("start", 2), OnnxGraph.Int("end", 4));
        var sizes = Graph.Op("Concat", path, [nc, hw], OnnxGraph.Int("axis", 0));
        var y = Graph.Op("Resize", path, [x.Name, "", "", sizes], OnnxGraph.Str("mode", "linear"),
            OnnxGraph.Str("coordinate_transformation_mode", alignCorners ? "align_corners" : "pytorch_half_pixel"));
        return new Value(y, x.C, like.H, like.W);
    }

    public Value Concat(IReadOnlyList<Value> xs, string path) =>
        new(Graph.Op("Concat", path, xs.Select(v => v.Name), OnnxGraph.Int("axis", 1)), xs.Sum(v => v.C), xs[0].H, xs[0].W);

    public Value Add(Value a, Value b, string path) => a with { Name = Graph.Op("Add", path, [a.Name, b.Name]) };
    public Value Mul(Value a, string b, string path) => a with { Name = Graph.Op("Mul", path, [a.Name, b]) };

    Value ConvModuleGraph(ConvModule cm, Value x, string path)
    {
        var y = Conv(cm.Conv, x, Join(path, "conv"));
        if (cm.Bn is not null) y = BatchNorm(cm.Bn, y, Join(path, "bn"));
        return cm.HasRelu ? Unary("Relu", y, path) : y;
    }

}
