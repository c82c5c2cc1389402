using HieraRS.Domain.Models;
using HieraRS.NN;

namespace HieraRS.Domain.Export;

/// <summary>The decode heads (UPerNet, FCN, DeepLabV3+) and the hierarchical classifier (BHCCM, method.md §2).</summary>
public sealed partial class ModuleExporter
{
    /// <summary>Per-level logits at the input's size, as <see cref="SegmentationModel.Predict"/>.</summary>
    public Value[] Predict(SegmentationModel model, Value x)
    {
        if (model is TransLuModel) throw new NotSupportedException("ONNX export: TransLuModel (TransLU) has no exporter yet: its CDKS deformable attention and CDSA alignment are not expressed in ONNX");
        if (model is not Segmentor s) throw Unsupported(model, "");
        var logits = Logits(s.Head, Features(s.Backbone, x, "backbone"), "decode_head");
        return logits.Select((z, i) => Resize(z, x, $"upsample.{i}")).ToArray();
    }

    /// <summary>The head's feature map F, then <see cref="DecodeHead.Classify"/>.</summary>
    public Value[] Logits(DecodeHead head, Value[] inputs, string path)
    {
        var f = head switch
        {
            UPerHead => UPerFeatures(head, inputs, path),
            FcnHead fcn => FcnFeatures(fcn, inputs, path),
            DepthwiseSeparableAsppHead => AsppFeatures(head, inputs, path),
            BhccmClassifier => inputs[0],
            _ => throw Unsupported(head, path),
        };
        var convSeg = (Conv2d)Child(head, "conv_seg", path);
        var finest = Conv(convSeg, f, Join(path, "conv_seg"));
        if (head.Mode == BhccmMode.Flat) return [finest];
        var coarse = (ModuleList)Child(head, "conv_seg_coarse", path);
        var zin = coarse.Select((c, i) => Conv((Conv2d)c, f, Join(path, $"conv_seg_coarse.{i}"))).Append(finest).ToArray();
        return Combine(head.Mode, Child(head, "bhccm", path), zin, Join(path, "bhccm"));
    }

    Value UPerFeatures(Module h, Value[] inputs, string path)
    {
        int n = inputs.Length;
        var x = inputs[^1];
        var psp = (ModuleList)Child(h, "psp_modules", path);
        var pooled = new List<Value> { x };
        for (int i = 0; i < psp.Count; i++)
            pooled.Add(Resize(Apply(psp[i], x, Join(path, $"psp_modules.{i}")), x, Join(path, $"psp_modules.{i}")));
        var lateral = (ModuleList)Child(h, "lateral_convs", path);
        var fpn = (ModuleList)Child(h, "fpn_convs", path);
        var laterals = new Value[n];
        for (int i = 0; i < n - 1; i++) laterals[i] = Apply(lateral[i], inputs[i], Join(path, $"lateral_convs.{i}"));
        laterals[^1] = Apply(Child(h, "bottleneck", path), Concat(pooled, path), Join(path, "bottleneck"));
        for (int i = n - 1; i > 0; i--)
            laterals[i - 1] = Add(laterals[i - 1], Resize(laterals[i], laterals[i - 1], path), path);
        var outs = new Value[n];
        for (int i = 0; i < n - 1; i++) outs[i] = Apply(fpn[i], laterals[i], Join(path, $"fpn_convs.{i}"));
        outs[^1] = laterals[^1];
        for (int i = 1; i < n; i++) outs[i] = Resize(outs[i], outs[0], path);
        return Apply(Child(h, "fpn_bottleneck", path), Concat(outs, path), Join(path, "fpn_bottleneck"));
    }

    Value FcnFeatures(FcnHead h, Value[] inputs, string path)
    {
        var x = inputs[h.InIndex];
        var y = Apply(Child(h, "convs", path), x, Join(path, "convs"));
        return OptionalChild(h, "conv_cat") is { } cat ? Apply(cat, Concat([x, y], path), Join(path, "conv_cat")) : y;
    }

    Value AsppFeatures(Module h, Value[] inputs, string path)
    {
        var x = inputs[^1];
        var outs = new List<Value> { Resize(Apply(Child(h, "image_pool", path), x, Join(path, "image_pool")), x, Join(path, "image_pool")) };
        var aspp = (ModuleList)Child(h, "aspp_modules", path);
        for (int i = 0; i < aspp.Count; i++) outs.Add(Apply(aspp[i], x, Join(path, $"aspp_modules.{i}")));
        var y = Apply(Child(h, "bottleneck", path), Concat(outs, path), Join(path, "bottleneck"));
        if (OptionalChild(h, "c1_bottleneck") is { } c1)
        {
            var low = Apply(c1, inputs[0], Join(path, "c1_bottleneck"));
            y = Concat([Resize(y, low, path), low], path);
        }
        return Apply(Child(h, "sep_bottleneck", path), y, Join(path, "sep_bottleneck"));
    }

    /// <summary>The fusion of <see cref="BhccmScalars.Combine"/>, term for term (stage 1, stage 2, residual).</summary>
    Value[] Combine(BhccmMode mode, Module bhccm, Value[] zin, string path)
    {
        if (mode == BhccmMode.Independent) return zin;
        int n = zin.Length;
        string S(char kind, int a, int b)
        {
            var name = $"{kind}{a + 1}{b + 1}";
            return Graph.Weight(Join(path, name), OwnParameter(bhccm, name) ?? throw new InvalidOperationException($"ONNX export: '{Join(path, name)}' is missing"));
        }
        Value Block(int a, int b, Value z)
        {
            var name = $"mb_{a + 1}_{b + 1}";
            return MergeBlockGraph((MergeBlock)Child(bhccm, name, path), z, Join(path, name));
        }
        var zm = zin;
        if (mode is BhccmMode.CoarseToFine or BhccmMode.Bidirectional or BhccmMode.BidirectionalResidual)
        {
            zm = new Value[n];
            zm[0] = zin[0];
            for (int b = 1; b < n; b++)
            {
                var acc = Mul(zin[b], S('w', b, b), path);
                for (int a = 0; a < b; a++) acc = Add(acc, Mul(Block(a, b, zin[a]), S('w', a, b), path), path);
                zm[b] = acc;
            }
            if (mode == BhccmMode.CoarseToFine) return zm;
        }
        var zb = new Value[n];
        zb[n - 1] = zm[n - 1];
        for (int b = n - 2; b >= 0; b--)
        {
            var acc = Mul(zm[b], S('y', b, b), path);
            for (int a = n - 1; a > b; a--) acc = Add(acc, Mul(Block(a, b, zm[a]), S('y', a, b), path), path);
            zb[b] = acc;
        }
        if (mode != BhccmMode.BidirectionalResidual) return zb;
        return Enumerable.Range(0, n).Select(i => Add(zin[i], Mul(zb[i], S('z', i, i), path), path)).ToArray();
    }

    /// <summary>MB(X) = c * Conv1x1(X) * s; the gate's shared Linear runs as a 1x1 conv on the pooled [N, K_a, 1, 1].</summary>
    Value MergeBlockGraph(MergeBlock mb, Value x, string path)
    {
        var fc = (Linear)Child(mb, "fc", path);
        var conv = (Conv2d)Child(mb, "conv", path);
        var fcWeight = fc.Weight.Reshape(conv.OutChannels, conv.InChannels, 1, 1);
        Value Gate(string pool)
        {
            var v = Conv(conv, fcWeight, new Value(Graph.Op(pool, path, [x.Name]), x.C, 1, 1), Join(path, "fc"));
            return mb.GateRelu ? Apply(new ReLU(), v, path) : v;
        }
        var c = Apply(new Sigmoid(), Add(Gate("GlobalMaxPool"), Gate("GlobalAveragePool"), path), path);
        var stats = new Value(Graph.Op("Concat", path, [
            Graph.Op("ReduceMax", path, [x.Name], OnnxGraph.Ints("axes", 1), OnnxGraph.Int("keepdims", 1)),
            Graph.Op("ReduceMean", path, [x.Name], OnnxGraph.Ints("axes", 1), OnnxGraph.Int("keepdims", 1))], OnnxGraph.Int("axis", 1)), 2, x.H, x.W);
        var s = Apply(new Sigmoid(), Conv((Conv2d)Child(mb, "spatial", path), stats, Join(path, "spatial")), path);
        return Mul(Mul(Conv(conv, x, Join(path, "conv")), c.Name, path), s.Name, path);
    }
}
