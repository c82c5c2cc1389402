using Google.Protobuf;
using HieraRS.NN.Onnx;
using HieraRS.Tensors;

namespace HieraRS.Domain.Export;

/// <summary>A graph value in NCHW with its static channels and size (the batch stays dynamic).</summary>
public readonly record struct Value(string Name, int C, int H, int W);

/// <summary>
/// An ONNX graph under construction (the schema's own classes): uniquely named nodes, weights as float
/// initializers, int64 constants, and attribute helpers. Node names carry the module path they come from.
/// </summary>
public sealed class OnnxGraph(int opset = OnnxExporter.Opset)
{
    readonly Dictionary<string, int> used = [];
    public GraphProto Graph { get; } = new() { Name = "hierars" };
    /// <summary>The operator set the graph is written for (which ops exist, and their forms).</summary>
    public int Opset { get; } = opset;
    /// <summary>Whether the input's height and width are declared dynamic (then no size seen at export time is taken as given).</summary>
    public bool DynamicSize { get; init; }

    /// <summary>A name not used before, from a hint (a module path and op).</summary>
    public string Fresh(string hint)
    {
        hint = hint.Length == 0 ? "v" : hint;
        int n = used.TryGetValue(hint, out var c) ? c + 1 : 0;
        used[hint] = n;
        return n == 0 ? hint : $"{hint}_{n}";
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Op(string op, string scope, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var name = Fresh(scope.Length == 0 ? op : $"{scope}/{op}");
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return name;
    }

    /// <summary>A float32 initializer with the tensor's values (and shape unless <paramref name="dims"/> is given).</summary>
    public string Weight(string name, Tensor t, params long[] dims) =>
        Floats(name, t.ToArray(), dims.Length > 0 ? dims : t.Shape.ToArray().Select(d => (long)d).ToArray());

    public string Floats(string name, float[] data, params long[] dims)
    {
        var bytes = new byte[data.Length * sizeof(float)];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length); // ONNX raw data is little-endian, as x86-64 and ARM64
        return Add(new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(bytes) }, name, dims);
    }

    public string Int64s(string name, long[] data, params long[] dims)
    {
        var t = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Int64Data.AddRange(data);
        return Add(t, name, dims.Length > 0 ? dims : [data.Length]);
    }

    string Add(TensorProto t, string name, long[] dims)
    {
        t.Name = Fresh(name);
        t.Dims.AddRange(dims);
        Graph.Initializer.Add(t);
        return t.Name;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
    public static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    /// <summary>A graph input or output of the given element type: [N, dims...] with the batch N dynamic.</summary>
    public static ValueInfoProto Info(string name, TensorProto.Types.DataType type, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(Dim("N"));
        shape.Dim.AddRange(dims);
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    public static TensorShapeProto.Types.Dimension Dim(long size) => new() { DimValue = size };
    /// <summary>A dimension known by name only (dynamic).</summary>
    public static TensorShapeProto.Types.Dimension Dim(string name) => new() { DimParam = name };
}
