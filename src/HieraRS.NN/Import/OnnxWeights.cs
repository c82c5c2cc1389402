using HieraRS.Platform;
using Google.Protobuf;
using HieraRS.NN.Onnx;
using HieraRS.Tensors;

namespace HieraRS.NN.Import;

/// <summary>
/// The weights of an ONNX model, mapped onto a module tree by the graph's structure: ONNX initializers
/// carry no module names (a CNTK export calls them Parameter91), so each Conv (with the BatchNormalization
/// that consumes its output) and each Gemm is a unit, units are taken in graph order, and each of the
/// module's Conv2d (+ its BatchNorm2d) / Linear takes the next unit of its shape. A producer may emit a
/// block's shortcut before its main branch, so a unit within a few places ahead may be taken first.
/// Where graph and tree disagree the error names the node and the module.
/// </summary>
public static class OnnxWeights
{
    const int LookAhead = 4;

    sealed record Unit(string Node, string Op, Tensor Weight, Tensor? Bias, BnParams? Norm)
    {
        public bool Taken;
    }

    sealed record BnParams(string Node, Tensor Scale, Tensor Shift, Tensor Mean, Tensor Var, float Eps);

    /// <summary>Parses an ONNX file (the schema's own parser; a damaged file is an error naming it).</summary>
    public static ModelProto ReadModel(string path)
    {
        using var fs = InputFile.OpenRead(path, "ONNX model");
        if (fs.Length > int.MaxValue) throw new InvalidDataException($"{path}: ONNX files over 2 GB keep their weights outside the file; not supported");
        try
        {
            var m = ModelProto.Parser.ParseFrom(fs);
            if (m.Graph is null || m.Graph.Node.Count == 0) throw new InvalidDataException($"{path}: an ONNX model without a graph");
            return m;
        }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"{path}: not a valid ONNX model ({e.Message})"); }
    }

    /// <summary>The graph's initializers as float tensors, by name.</summary>
    public static Dictionary<string, Tensor> Initializers(ModelProto m, string path)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var t in m.Graph.Initializer) d[t.Name] = ToTensor(t, path);
        foreach (var n in m.Graph.Node.Where(n => n.OpType == "Constant"))
            if (n.Attribute.FirstOrDefault(a => a.Name == "value") is { T: { } t }) d[n.Output[0]] = ToTensor(t, path);
        return d;
    }

    static Tensor ToTensor(TensorProto t, string path)
    {
        var shape = t.Dims.Select(v => v is >= 0 and <= int.MaxValue ? (int)v : throw new InvalidDataException($"{path}: initializer {t.Name} has dimension {v}")).ToArray();
        long numel = shape.Aggregate(1L, (a, b) => a * b);
        if (numel > Array.MaxLength) throw new InvalidDataException($"{path}: initializer {t.Name} is too large");
        if (t.DataLocation == TensorProto.Types.DataLocation.External) throw new InvalidDataException($"{path}: initializer {t.Name} is stored outside the file; not supported");
        var type = (TensorProto.Types.DataType)t.DataType;
        if (t.RawData.IsEmpty)
        {
            // typed fields: checked against the shape before anything of the shape's size is allocated
            var values = t.FloatData.Count == numel ? t.FloatData.ToArray()
                : t.DoubleData.Count == numel ? t.DoubleData.Select(v => (float)v).ToArray()
                : t.Int64Data.Count == numel ? t.Int64Data.Select(v => (float)v).ToArray()
                : numel == 0 ? [] : throw new InvalidDataException($"{path}: initializer {t.Name} holds no data for its {numel} elements");
            return Tensor.FromArray(values, shape);
        }
        var (dtype, size) = type switch
        {
            TensorProto.Types.DataType.Float => (DType.F32, 4), TensorProto.Types.DataType.Float16 => (DType.F16, 2),
            TensorProto.Types.DataType.Bfloat16 => (DType.BF16, 2), TensorProto.Types.DataType.Int64 => (DType.I64, 8),
            TensorProto.Types.DataType.Int32 => (DType.I32, 4),
            _ => throw new InvalidDataException($"{path}: initializer {t.Name} has data type {type}, not a float or integer tensor"),
        };
        if (t.RawData.Length != numel * size) throw new InvalidDataException($"{path}: initializer {t.Name} holds {t.RawData.Length} bytes, its shape needs {numel * size}");
        var r = Tensor.Empty(shape);
        SafeTensors.Decode(t.RawData.Span, dtype, r.Span);
        return r;
    }

    /// <summary>Maps the model's weights onto <paramref name="module"/>'s convolutions, batch norms and linear layers, as a state dict by the module's names.</summary>
    public static StateDict Map(string path, Module module)
    {
        var m = ReadModel(path);
        var units = Units(m, path);
        var sd = new StateDict();
        var modules = module.NamedModules().Where(x => x.Module is Conv2d or Linear or BatchNorm2d).ToList();
        int next = 0;
        for (int i = 0; i < modules.Count; i++)
        {
            var (name, mod) = modules[i];
            if (mod is BatchNorm2d) throw new InvalidDataException($"{path}: the module {name} (BatchNorm2d) follows no convolution; the graph cannot say which batch normalisation it is");
            var w = mod.StateDict()["weight"];
            var unit = Find(units, ref next, w.Shape.ToArray(), mod is Linear);
            if (unit is null)
            {
                var at = units.FirstOrDefault(u => !u.Taken);
                throw new InvalidDataException($"{path}: the module {name} ({mod.GetType().Name} {ShapeUtil.Format(w.Shape)}) has no counterpart in the graph" +
                    (at is null ? "; the graph has no layers left" : $": the next graph layer is node {at.Node} ({at.Op} {ShapeUtil.Format(at.Weight.Shape)})"));
            }
            sd.Add(name + ".weight", unit.Weight);
            if (mod.StateDict().ContainsKey("bias"))
                sd.Add(name + ".bias", unit.Bias ?? throw new InvalidDataException($"{path}: node {unit.Node} has no bias, the module {name} has one"));
            else if (unit.Bias is not null) throw new InvalidDataException($"{path}: node {unit.Node} has a bias, the module {name} has none");
            bool bnNext = i + 1 < modules.Count && modules[i + 1].Module is BatchNorm2d;
            if (bnNext != unit.Norm is not null)
                throw new InvalidDataException($"{path}: node {unit.Node} is {(unit.Norm is null ? "not " : "")}followed by a BatchNormalization, the module {name} is {(bnNext ? "" : "not ")}followed by a BatchNorm2d");
            if (unit.Norm is { } bn)
            {
                var (bnName, bnMod) = modules[++i];
                var b = (BatchNorm2d)bnMod;
                if (Math.Abs(bn.Eps - b.Eps) > 1e-3 * b.Eps) throw new InvalidDataException($"{path}: node {bn.Node} has epsilon {bn.Eps}, the module {bnName} {b.Eps}");
                sd.Add(bnName + ".weight", bn.Scale); sd.Add(bnName + ".bias", bn.Shift);
                sd.Add(bnName + ".running_mean", bn.Mean); sd.Add(bnName + ".running_var", bn.Var);
            }
        }
        if (units.FirstOrDefault(u => !u.Taken) is { } left)
            throw new InvalidDataException($"{path}: the graph's node {left.Node} ({left.Op} {ShapeUtil.Format(left.Weight.Shape)}) and {units.Count(u => !u.Taken) - 1} more have no module");
        return sd;
    }

    static Unit? Find(List<Unit> units, ref int next, int[] shape, bool linear)
    {
        while (next < units.Count && units[next].Taken) next++;
        int seen = 0;
        for (int j = next; j < units.Count && seen < LookAhead; j++)
        {
            if (units[j].Taken) continue;
            seen++;
            if ((units[j].Op == "Gemm") == linear && units[j].Weight.Shape.SequenceEqual(shape)) { units[j].Taken = true; return units[j]; }
        }
        return null;
    }

    static List<Unit> Units(ModelProto m, string path)
    {
        var init = Initializers(m, path);
        var consumers = m.Graph.Node.SelectMany(n => n.Input.Select(i => (i, n))).ToLookup(p => p.i, p => p.n);
        Tensor Init(NodeProto n, int k) => k < n.Input.Count && init.TryGetValue(n.Input[k], out var t) ? t
            : throw new InvalidDataException($"{path}: node {n.Name} ({n.OpType}) takes {(k < n.Input.Count ? n.Input[k] : $"input {k}")} from the graph, not from its initializers; only constant weights can be imported");
        var units = new List<Unit>();
        foreach (var n in m.Graph.Node)
        {
            string node = n.Name.Length > 0 ? n.Name : n.Output[0];
            if (n.OpType == "Conv")
            {
                var bnNode = consumers[n.Output[0]].SingleOrDefault(c => c.OpType == "BatchNormalization");
                BnParams? bn = bnNode is null ? null : new BnParams(bnNode.Name.Length > 0 ? bnNode.Name : bnNode.Output[0],
                    Init(bnNode, 1), Init(bnNode, 2), Init(bnNode, 3), Init(bnNode, 4),
                    bnNode.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f);
                units.Add(new Unit(node, "Conv", Init(n, 1), n.Input.Count > 2 && n.Input[2].Length > 0 ? Init(n, 2) : null, bn));
            }
            else if (n.OpType == "Gemm")
            {
                bool transB = n.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1;
                var w = Init(n, 1);
                units.Add(new Unit(node, "Gemm", transB ? w : w.Transpose(0, 1).Contiguous(), n.Input.Count > 2 ? Init(n, 2) : null, null));
            }
        }
        if (units.Count == 0) throw new InvalidDataException($"{path}: the graph has no Conv or Gemm nodes with constant weights");
        return units;
    }
}
