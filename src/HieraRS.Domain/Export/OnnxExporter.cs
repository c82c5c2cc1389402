using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Google.Protobuf;
using HieraRS.Platform;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Modeling;
using HieraRS.NN;
using HieraRS.NN.Onnx;
using HieraRS.Tensors;

namespace HieraRS.Domain.Export;

/// <summary>What the exported graph gives: per-level softmax probabilities, joint-path-selection labels, or both.</summary>
public enum OnnxOutputs { Probabilities, Labels, Both }

public sealed record OnnxExportOptions
{
    /// <summary>The window (height = width) the graph is built for: its input size where the architecture fixes it (UPerNet), Deepness' tiles_size.</summary>
    public int Window { get; init; } = 512;
    public int Opset { get; init; } = OnnxExporter.Opset;
    public OnnxOutputs Outputs { get; init; } = OnnxOutputs.Probabilities;
    /// <summary>
    /// Declare the input's height and width dynamic (the graph reads every size from its tensors); refused where the
    /// architecture fixes them (UPerNet). Off by default: Deepness takes its tile size from the input's shape.
    /// </summary>
    public bool DynamicSize { get; init; }
    /// <summary>Deepness' tile overlap, percent of the tile.</summary>
    public int TilesOverlap { get; init; } = 15;
    /// <summary>Deepness' ground resolution, centimetres per pixel (left out when unknown).</summary>
    public double? Resolution { get; init; }
}

/// <summary>The checkpoint an export comes from: its file name and SHA-256.</summary>
public sealed record CheckpointIdentity(string Name, string Sha256)
{
    public static CheckpointIdentity Of(string path)
    {
        using var fs = File.OpenRead(path);
        return new(Path.GetFileName(path), Convert.ToHexStringLower(SHA256.HashData(fs)));
    }
}

/// <summary>
/// A checkpoint as an ONNX model (IR version 8, opset 17: ONNX 1.12, read by ONNX Runtime 1.13 and later):
/// input <c>image</c> [N, bands, H, W] (H = W = the window where the architecture fixes it), normalised as the checkpoint's data were; outputs per
/// level <c>probabilities_L</c> [N, K_L, H, W] (softmax of the upsampled logits) and/or
/// <c>labels_L</c> [N, H, W] int64 (joint path selection in the graph; a flat model's finest
/// argmax mapped upward), L = 1 ... depth; metadata for QGIS Deepness and HieraRS (<see cref="OnnxMetadata"/>).
/// </summary>
public static class OnnxExporter
{
    /// <summary>The default opset (ONNX 1.12); 16 (ONNX 1.11, ONNX Runtime 1.12) is written on request.</summary>
    public const int Opset = 17;
    public const int MinOpset = 16;
    public const long IrVersion = 8;
    public const string InputName = "image";

    /// <summary>Loads a checkpoint, exports it and writes the model under a temporary name renamed when complete.</summary>
    public static ModelProto Export(string checkpointPath, string outputPath, OnnxExportOptions options)
    {
        if (Path.GetFullPath(checkpointPath) == Path.GetFullPath(outputPath))
            throw new ArgumentException($"--output {outputPath} is the checkpoint; choose another name (an output never replaces an input)");
        Check(options);
        var model = Build(Checkpoint.Load(checkpointPath), CheckpointIdentity.Of(checkpointPath), options);
        AtomicFile.Write(outputPath, tmp => File.WriteAllBytes(tmp, model.ToByteArray()));
        return model;
    }

    static void Check(OnnxExportOptions options)
    {
        if (options.Opset is not (MinOpset or Opset))
            throw new ArgumentException($"--opset {options.Opset}: the exporter writes opset {Opset} (ONNX 1.12, ONNX Runtime 1.13 and later) or {MinOpset} (ONNX 1.11, ONNX Runtime 1.12)");
        if (options.Window < 32) throw new ArgumentException($"--window {options.Window}: at least 32 pixels (the backbones reduce by 32)");
        if (options.TilesOverlap is < 0 or >= 100) throw new ArgumentException($"--tiles-overlap {options.TilesOverlap}: a percentage of the tile, 0 to 99");
    }

    public static ModelProto Build(Checkpoint ck, CheckpointIdentity source, OnnxExportOptions options)
    {
        Check(options);
        var g = new OnnxGraph(options.Opset) { DynamicSize = options.DynamicSize };
        var x = new Value(InputName, ck.Bands, options.Window, options.Window);
        if (options.DynamicSize && FixedSize(ck.Model))
            throw new ArgumentException("--dynamic-size: this model's pyramid pooling (UPerNet) is written bin by bin for the window, so its input size is fixed");
        var size = options.DynamicSize ? [OnnxGraph.Dim("H"), OnnxGraph.Dim("W")] : new[] { OnnxGraph.Dim(options.Window), OnnxGraph.Dim(options.Window) };
        g.Graph.Input.Add(OnnxGraph.Info(InputName, TensorProto.Types.DataType.Float, [OnnxGraph.Dim(ck.Bands), .. size]));
        var logits = new ModuleExporter(g).Predict(ck.Model, x);
        var outputs = AddOutputs(g, ck.Hierarchy, logits, options, size);
        var model = new ModelProto
        {
            IrVersion = IrVersion, ProducerName = "hierars", Graph = g.Graph,
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "?",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        foreach (var (k, v) in OnnxMetadata.For(ck, source, options, outputs)) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }

    /// <summary>
    /// Whether the graph only holds for the export window: adaptive average pooling to more than one bin (UPerNet's
    /// pyramid) is written bin by bin for that size; everything else reads its sizes from the tensors.
    /// </summary>
    public static bool FixedSize(Module model) => model.NamedModules().Any(m => m.Module is AdaptiveAvgPool2d p && (p.OutH, p.OutW) != (1, 1));

    /// <summary>The graph outputs, in order; each with its level (0-based) and kind.</summary>
    static List<OnnxOutput> AddOutputs(OnnxGraph g, ClassHierarchy tree, Value[] logits, OnnxExportOptions o, TensorShapeProto.Types.Dimension[] size)
    {
        bool flat = logits.Length == 1 && tree.Depth > 1;
        var outs = new List<OnnxOutput>();
        if (o.Outputs is OnnxOutputs.Probabilities or OnnxOutputs.Both)
            for (int i = 0; i < logits.Length; i++)
            {
                int level = flat ? tree.Depth - 1 : i;
                var p = g.Op("Softmax", $"level{level + 1}", [logits[i].Name], OnnxGraph.Int("axis", 1));
                outs.Add(Output(g, p, new OnnxOutput($"probabilities_{level + 1}", level, false), [OnnxGraph.Dim(logits[i].C), .. size]));
            }
        if (o.Outputs is OnnxOutputs.Labels or OnnxOutputs.Both)
        {
            var labels = flat ? UpwardLabels(g, tree, logits[0]) : JspsLabels(g, tree, logits);
            for (int l = 0; l < tree.Depth; l++)
                outs.Add(Output(g, labels[l], new OnnxOutput($"labels_{l + 1}", l, true), size));
        }
        return outs;
    }

    static OnnxOutput Output(OnnxGraph g, string value, OnnxOutput o, TensorShapeProto.Types.Dimension[] dims)
    {
        g.Graph.Node.Add(Identity(value, o.Name));
        g.Graph.Output.Add(OnnxGraph.Info(o.Name, o.Labels ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float, dims));
        return o;
    }

    static NodeProto Identity(string from, string to)
    {
        var n = new NodeProto { OpType = "Identity", Name = to };
        n.Input.Add(from);
        n.Output.Add(to);
        return n;
    }

    /// <summary>
    /// <see cref="Decoding.Decoder.Jsps"/> in the graph: path scores s_t = sum_l log_softmax(Z_l)[t_l] over the tree's
    /// valid paths (<see cref="Decoding.PathScores"/>), the first best path, and each level's class on it.
    /// </summary>
    static string[] JspsLabels(OnnxGraph g, ClassHierarchy tree, Value[] logits)
    {
        var paths = tree.Paths;
        long[] Column(int l) => Enumerable.Range(0, tree.PathCount).Select(p => (long)paths[p, l]).ToArray();
        string? scores = null;
        for (int l = 0; l < tree.Depth; l++)
        {
            var logp = g.Op("LogSoftmax", $"jsps.level{l + 1}", [logits[l].Name], OnnxGraph.Int("axis", 1));
            var picked = g.Op("Gather", $"jsps.level{l + 1}", [logp, g.Int64s($"jsps.paths_{l + 1}", Column(l))], OnnxGraph.Int("axis", 1));
            scores = scores is null ? picked : g.Op("Add", "jsps", [scores, picked]);
        }
        var best = g.Op("ArgMax", "jsps", [scores!], OnnxGraph.Int("axis", 1), OnnxGraph.Int("keepdims", 0));
        return Enumerable.Range(0, tree.Depth).Select(l => g.Op("Gather", $"jsps.labels_{l + 1}", [g.Int64s($"jsps.class_{l + 1}", Column(l)), best], OnnxGraph.Int("axis", 0))).ToArray();
    }

    /// <summary><see cref="Decoding.Decoder.Upward"/> in the graph: the finest argmax through each level's upward map.</summary>
    static string[] UpwardLabels(OnnxGraph g, ClassHierarchy tree, Value finest)
    {
        var best = g.Op("ArgMax", "upward", [finest.Name], OnnxGraph.Int("axis", 1), OnnxGraph.Int("keepdims", 0));
        var maps = tree.UpwardMaps();
        return Enumerable.Range(0, tree.Depth).Select(l =>
            g.Op("Gather", $"upward.labels_{l + 1}", [g.Int64s($"upward.map_{l + 1}", maps[l].Select(v => (long)v).ToArray()), best], OnnxGraph.Int("axis", 0))).ToArray();
    }
}

/// <summary>One graph output: its name, its level (0-based) and whether it holds labels (else probabilities).</summary>
public sealed record OnnxOutput(string Name, int Level, bool Labels);

/// <summary>
/// The model's metadata_props: QGIS Deepness' keys (model_type, class_names per output, tiles_size,
/// tiles_overlap, resolution, standardization_mean / _std for inputs scaled to [0, 1] as Deepness scales
/// 8-bit layers: our mean and std divided by 255) and HieraRS' own under <c>hierars.</c>.
/// </summary>
public static class OnnxMetadata
{
    public const string Format = "hierars-onnx-1";

    public static Dictionary<string, string> For(Checkpoint ck, CheckpointIdentity source, OnnxExportOptions o, IReadOnlyList<OnnxOutput> outputs)
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string Json<T>(T v) => JsonSerializer.Serialize(v);
        var classNames = outputs.Select(op => ck.Hierarchy.Levels[op.Level].Classes.ToDictionary(c => c.Id.ToString(CultureInfo.InvariantCulture), c => c.Name)).ToList();
        var meta = new Dictionary<string, string>
        {
            ["model_type"] = Json("Segmentor"), // Deepness reads every value as JSON
            ["class_names"] = classNames.Count == 1 ? Json(classNames[0]) : Json(classNames),
            ["tiles_size"] = o.Window.ToString(CultureInfo.InvariantCulture), // the key Deepness' documentation names
            ["tile_size"] = o.Window.ToString(CultureInfo.InvariantCulture), // the key its code (2024-12) reads
            ["tiles_overlap"] = o.TilesOverlap.ToString(CultureInfo.InvariantCulture),
            ["standardization_mean"] = Json(ck.Normalization.Mean.Select(m => m / 255.0)),
            ["standardization_std"] = Json(ck.Normalization.Std.Select(s => s / 255.0)),
            ["hierars.format"] = Format,
            ["hierars.hierarchy"] = HierarchyWriter.ToYaml(ck.Hierarchy),
            ["hierars.bands"] = ck.Bands.ToString(CultureInfo.InvariantCulture),
            ["hierars.normalization"] = Json(new { mean = ck.Normalization.Mean, std = ck.Normalization.Std }),
            ["hierars.window"] = o.Window.ToString(CultureInfo.InvariantCulture),
            ["hierars.outputs"] = Json(outputs.Select(op => new { name = op.Name, level = op.Level + 1, kind = op.Labels ? "labels" : "probabilities" })),
            ["hierars.model"] = ck.Spec.ToJson(),
            ["hierars.iteration"] = ck.Iteration.ToString(CultureInfo.InvariantCulture),
            ["hierars.checkpoint"] = source.Name,
            ["hierars.checkpoint_sha256"] = source.Sha256,
        };
        if (o.Resolution is { } r) meta["resolution"] = F(r);
        return meta;
    }
}
