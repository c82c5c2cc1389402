using System.Text.Json;
using HieraRS.Domain.Data;
using HieraRS.Domain.Export;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Decoding;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Training;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = HieraRS.Tensors.Tensor;

namespace HieraRS.Domain.Tests;

/// <summary>
/// Exported models run in ONNX Runtime 1.31.1 against the native engine on the same input (randomly
/// initialised small networks with random batch statistics and BHCCM scalars, eval mode): probabilities
/// within 1e-4, joint-path-selection labels identical except where the two best paths tie within 1e-3.
/// </summary>
public class OnnxExportTests
{
    static readonly ClassHierarchy Tree = HierarchyLoader.Builtin("mm5b");
    const int Bands = 4;

    static Segmentor ResNetUper(BhccmMode mode) =>
        new(new ResNet(18, Bands, baseWidth: 8), new UPerHead([8, 16, 32, 64], 16, Tree.ClassCounts, mode));

    public static TheoryData<string> Variants => new(["uper-flat", "uper-independent", "uper-coarse-to-fine", "uper-fine-to-coarse",
        "uper-bidirectional", "uper-bidirectional-residual", "uper-merge-relu", "fcn", "aspp", "convnext-uper", "resnet50v1c-os8-uper"]);

    static Segmentor Build(string variant) => variant switch
    {
        "uper-flat" => ResNetUper(BhccmMode.Flat),
        "uper-independent" => ResNetUper(BhccmMode.Independent),
        "uper-coarse-to-fine" => ResNetUper(BhccmMode.CoarseToFine),
        "uper-fine-to-coarse" => ResNetUper(BhccmMode.FineToCoarse),
        "uper-bidirectional" => ResNetUper(BhccmMode.Bidirectional),
        "uper-bidirectional-residual" => ResNetUper(BhccmMode.BidirectionalResidual),
        "uper-merge-relu" => new(new ResNet(18, Bands, baseWidth: 8), new UPerHead([8, 16, 32, 64], 16, Tree.ClassCounts, mergeRelu: true)),
        "fcn" => new(new ResNet(18, Bands, baseWidth: 8), new FcnHead(64, 16, Tree.ClassCounts, inIndex: 3, numConvs: 2, concatInput: true, mode: BhccmMode.BidirectionalResidual)),
        "aspp" => new(new ResNet(18, Bands, baseWidth: 8), new DepthwiseSeparableAsppHead([8, 16, 32, 64], 16, Tree.ClassCounts, dilations: [1, 2, 3], c1Channels: 8)),
        "convnext-uper" => new(new ConvNeXt([1, 1, 2, 1], [8, 16, 24, 32], Bands), new UPerHead([8, 16, 24, 32], 16, Tree.ClassCounts)),
        "resnet50v1c-os8-uper" => new(new ResNet(50, Bands, deepStem: true, outputStride: 8, baseWidth: 4, stageBlocks: [1, 1, 1, 1]),
            new UPerHead([16, 32, 64, 128], 16, Tree.ClassCounts)),
        _ => throw new ArgumentException(variant),
    };

    /// <summary>Random batch statistics, norm affines, BHCCM scalars and layer scales, so each is seen by the comparison.</summary>
    static T Randomise<T>(T model, int seed) where T : Module
    {
        var rng = new Random(seed);
        float U(float lo, float hi) => lo + (hi - lo) * (float)rng.NextDouble();
        foreach (var (name, t) in model.StateDict())
        {
            var leaf = name[(name.LastIndexOf('.') + 1)..];
            bool bhccmScalar = name.Contains(".bhccm.") && leaf.Length == 3 && "wyz".Contains(leaf[0]);
            Func<float>? draw = leaf switch
            {
                "running_var" => () => U(0.5f, 1.5f),
                "running_mean" => () => U(-0.2f, 0.2f),
                "gamma" => () => U(0.2f, 1f),
                _ when bhccmScalar => () => U(0.5f, 1.5f),
                "weight" when t.Shape.Length == 1 => () => U(0.5f, 1.5f),
                "bias" when t.Shape.Length == 1 && !name.Contains("conv") => () => U(-0.2f, 0.2f),
                _ => null,
            };
            if (draw is null) continue;
            var s = t.Span;
            for (int i = 0; i < s.Length; i++) s[i] = draw();
        }
        model.Eval();
        return model;
    }

    static Checkpoint Wrap(SegmentationModel model) => new()
    {
        Model = model, Spec = new ModelSpec(), Hierarchy = Tree, Iteration = 7,
        Normalization = new Normalization([412.6f, 317.7f, 243.7f, 292.6f], [42.8f, 45.6f, 54.9f, 69.3f]),
    };

    static readonly CheckpointIdentity Source = new("test.safetensors", new string('a', 64));

    static Dictionary<string, float[]> RunOnnx(byte[] model, Tensor x, out Dictionary<string, long[]> labels)
    {
        using var session = new InferenceSession(model);
        var input = new DenseTensor(x.ToArray(), x.Shape.ToArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, input)]);
        labels = results.Where(r => r.Name.StartsWith("labels_")).ToDictionary(r => r.Name, r => r.AsTensor<long>().ToArray());
        return results.Where(r => r.Name.StartsWith("probabilities_")).ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void ExportedModelAgreesWithTheNativeEngine(string variant)
    {
        const int window = 96; // the last stage is 3 x 3: pyramid bins 2 and 6 overlap, as PyTorch's adaptive pooling
        var model = Randomise(Build(variant), 11);
        var ck = Wrap(model);
        var onnx = OnnxExporter.Build(ck, Source, new OnnxExportOptions { Window = window, Outputs = OnnxOutputs.Both });
        var x = Tensor.Randn([2, Bands, window, window], new Generator(5));
        var probs = RunOnnx(onnx.ToByteArray(), x, out var labels);

        Tensor[] logits;
        using (GradMode.NoGrad()) logits = model.Predict(x);
        bool flat = logits.Length == 1;
        for (int i = 0; i < logits.Length; i++)
        {
            var expected = logits[i].Softmax(1).ToArray();
            var actual = probs[$"probabilities_{(flat ? Tree.Depth : i + 1)}"];
            Assert.Equal(expected.Length, actual.Length);
            float worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 1e-4f, $"{variant}: probabilities differ by {worst}");
        }
        Assert.Equal(logits.Length, probs.Count);
        AssertLabels(variant, logits, labels);
    }

    [Theory]
    [InlineData("fcn")]
    [InlineData("aspp")]
    [InlineData("uper-bidirectional-residual")]
    public void SpatialSizeIsDynamicWhereTheArchitectureAllows(string variant)
    {
        var model = Randomise(Build(variant), 12);
        // exported at 32: the last stage is 1 x 1 there, as DeepLabV3+'s image pool, yet not at the size it then runs at
        var options = new OnnxExportOptions { Window = 32, DynamicSize = true };
        if (variant.StartsWith("uper")) // UPerNet's pooling bins are written for the export window
        {
            Assert.Contains("pyramid pooling", Assert.Throws<ArgumentException>(() => OnnxExporter.Build(Wrap(model), Source, options)).Message);
            return;
        }
        var onnx = OnnxExporter.Build(Wrap(model), Source, options).ToByteArray();
        using var session = new InferenceSession(onnx);
        Assert.Equal([-1, Bands, -1, -1], session.InputMetadata[OnnxExporter.InputName].Dimensions);
        var x = Tensor.Randn([1, Bands, 64, 160], new Generator(6));
        var probs = RunOnnx(onnx, x, out _);
        Tensor[] logits;
        using (GradMode.NoGrad()) logits = model.Predict(x);
        for (int i = 0; i < logits.Length; i++)
        {
            var expected = logits[i].Softmax(1).ToArray();
            Assert.True(expected.Zip(probs[$"probabilities_{i + 1}"], (e, a) => Math.Abs(e - a)).Max() <= 1e-4f);
        }
    }

    [Fact]
    public void Opset16WritesLayerNormAsArithmetic()
    {
        var model = Randomise(Build("convnext-uper"), 13);
        var proto = OnnxExporter.Build(Wrap(model), Source, new OnnxExportOptions { Window = 64, Opset = 16 });
        Assert.Equal(16, proto.OpsetImport.Single().Version);
        Assert.DoesNotContain(proto.Graph.Node, n => n.OpType == "LayerNormalization");
        var x = Tensor.Randn([1, Bands, 64, 64], new Generator(8));
        var probs = RunOnnx(proto.ToByteArray(), x, out _);
        Tensor[] logits;
        using (GradMode.NoGrad()) logits = model.Predict(x);
        for (int i = 0; i < logits.Length; i++)
            Assert.True(logits[i].Softmax(1).ToArray().Zip(probs[$"probabilities_{i + 1}"], (e, a) => Math.Abs(e - a)).Max() <= 1e-4f);
        Assert.Contains("--opset 13", Assert.Throws<ArgumentException>(() => OnnxExporter.Build(Wrap(model), Source, new OnnxExportOptions { Opset = 13 })).Message);
    }

    static void AssertLabels(string variant, Tensor[] logits, Dictionary<string, long[]> labels)
    {
        Assert.Equal(Tree.Depth, labels.Count);
        if (logits.Length == 1)
        {
            var upward = Decoder.Upward(Tree, logits[0]);
            for (int l = 0; l < Tree.Depth; l++) Assert.Equal(upward[l].Data, labels[$"labels_{l + 1}"]);
            return;
        }
        var (native, _) = Decoder.Jsps(Tree, logits);
        Tensor scores;
        using (GradMode.NoGrad()) scores = PathScores.Compute(Tree, logits);
        int p = Tree.PathCount, hw = logits[0].Size(2) * logits[0].Size(3);
        var s = scores.ToArray();
        int differing = 0;
        for (int l = 0; l < Tree.Depth; l++)
            for (int i = 0; i < native[l].Numel; i++)
            {
                if (native[l].Data[i] == labels[$"labels_{l + 1}"][i]) continue;
                differing++;
                int n = i / hw, px = i % hw;
                var sorted = Enumerable.Range(0, p).Select(t => s[(n * p + t) * hw + px]).OrderDescending().ToArray();
                Assert.True(sorted[0] - sorted[1] < 1e-3f, $"{variant}: level {l + 1} pixel {i} differs with a path-score gap of {sorted[0] - sorted[1]}");
            }
        Assert.True(differing <= native[0].Numel / 1000, $"{variant}: {differing} labels differ");
    }

    [Fact]
    public void MetadataCarriesDeepnessAndHieraRSKeys()
    {
        var dir = SharedData.TempDir("hierars-onnx-");
        try
        {
            var spec = new ModelSpec { Channels = 16 };
            var ckPath = Path.Combine(dir, "model.safetensors");
            var norm = new Normalization([412.6f, 317.7f, 243.7f, 292.6f], [42.8f, 45.6f, 54.9f, 69.3f]);
            new Checkpoint { Model = spec.Build(Tree, Bands), Spec = spec, Hierarchy = Tree, Normalization = norm, Iteration = 42 }.Save(ckPath);
            var outPath = Path.Combine(dir, "model.onnx");
            OnnxExporter.Export(ckPath, outPath, new OnnxExportOptions { Window = 64, Resolution = 400 });

            using var session = new InferenceSession(outPath);
            var meta = session.ModelMetadata.CustomMetadataMap;
            Assert.Equal("Segmentor", JsonSerializer.Deserialize<string>(meta["model_type"])); // Deepness json.loads every value
            Assert.Equal("64", meta["tiles_size"]);
            Assert.Equal("64", meta["tile_size"]);
            Assert.Equal("15", meta["tiles_overlap"]);
            Assert.Equal(400, double.Parse(meta["resolution"], System.Globalization.CultureInfo.InvariantCulture));
            var classNames = JsonSerializer.Deserialize<List<Dictionary<string, string>>>(meta["class_names"])!;
            Assert.Equal(Tree.Depth, classNames.Count);
            for (int l = 0; l < Tree.Depth; l++)
                Assert.Equal(Tree.Levels[l].Classes.Select(c => c.Name), classNames[l].OrderBy(kv => int.Parse(kv.Key)).Select(kv => kv.Value));
            var mean = JsonSerializer.Deserialize<double[]>(meta["standardization_mean"])!;
            var std = JsonSerializer.Deserialize<double[]>(meta["standardization_std"])!;
            for (int b = 0; b < Bands; b++)
            {
                Assert.Equal(norm.Mean[b] / 255.0, mean[b], 6);
                Assert.Equal(norm.Std[b] / 255.0, std[b], 6);
            }
            Assert.Equal(Tree.ClassCounts, HierarchyLoader.Parse(meta["hierars.hierarchy"], "metadata").ClassCounts);
            Assert.Equal("4", meta["hierars.bands"]);
            Assert.Equal("42", meta["hierars.iteration"]);
            Assert.Equal("model.safetensors", meta["hierars.checkpoint"]);
            Assert.Equal(CheckpointIdentity.Of(ckPath).Sha256, meta["hierars.checkpoint_sha256"]);
            Assert.Equal(64, meta["hierars.checkpoint_sha256"].Length);
            var n = JsonDocument.Parse(meta["hierars.normalization"]).RootElement;
            Assert.Equal(norm.Mean, n.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()));
            Assert.Equal(["probabilities_1", "probabilities_2", "probabilities_3"], session.OutputMetadata.Keys.Order());
            Assert.Equal([-1, Bands, 64, 64], session.InputMetadata[OnnxExporter.InputName].Dimensions);
            var proto = HieraRS.NN.Import.OnnxWeights.ReadModel(outPath);
            Assert.Equal(OnnxExporter.IrVersion, proto.IrVersion);
            Assert.Equal(OnnxExporter.Opset, proto.OpsetImport.Single().Version);
        }
        finally { Directory.Delete(dir, true); }
    }

    sealed class OddBackbone : Module, IBackbone
    {
        public int[] OutChannels => [8, 16, 32, 64];
        public Tensor[] ForwardFeatures(Tensor x) => throw new NotImplementedException();
    }

    [Fact]
    public void AModuleWithoutExporterIsNamed()
    {
        var model = new Segmentor(new OddBackbone(), new UPerHead([8, 16, 32, 64], 16, Tree.ClassCounts));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.Build(Wrap(model), Source, new OnnxExportOptions { Window = 64 }));
        Assert.Contains("'backbone' (OddBackbone)", e.Message);
        var (source, target) = (HierarchyLoader.Builtin("gid").Truncate(2), HierarchyLoader.Builtin("gid-crop"));
        Segmentor Net(ClassHierarchy t) => new(new ResNet(18, Bands, baseWidth: 8), new UPerHead([8, 16, 32, 64], 16, t.ClassCounts));
        var translu = new TransLuModel(Net(source), source, Net(target), target, new TransLuOptions { Cdks = false });
        e = Assert.Throws<NotSupportedException>(() => OnnxExporter.Build(Wrap(translu), Source, new OnnxExportOptions { Window = 64 }));
        Assert.Contains("TransLuModel", e.Message);
    }
}

/// <summary>The ONNX engine's seam: an exported model read back with its tree and normalisation, its scores the native log-probabilities; other files refused.</summary>
public class OnnxWindowModelTests
{
    static readonly ClassHierarchy Tree = HierarchyLoader.Builtin("mm5b");
    static readonly Normalization Norm = new([412.6f, 317.7f, 243.7f, 292.6f], [42.8f, 45.6f, 54.9f, 69.3f]);

    static string Export(string dir, BhccmMode mode, OnnxOutputs outputs, out Segmentor model)
    {
        model = new Segmentor(new ResNet(18, 4, baseWidth: 8), new UPerHead([8, 16, 32, 64], 16, Tree.ClassCounts, mode));
        model.Eval();
        var ck = new Checkpoint { Model = model, Spec = new ModelSpec(), Hierarchy = Tree, Normalization = Norm };
        var path = Path.Combine(dir, $"{mode}-{outputs}.onnx");
        File.WriteAllBytes(path, OnnxExporter.Build(ck, new CheckpointIdentity("m.safetensors", ""), new OnnxExportOptions { Window = 64, Outputs = outputs }).ToByteArray());
        return path;
    }

    [Theory]
    [InlineData(BhccmMode.BidirectionalResidual)]
    [InlineData(BhccmMode.Flat)]
    public void ScoresAreTheNativeLogProbabilities(BhccmMode mode)
    {
        var dir = SharedData.TempDir("hierars-onnx-");
        try
        {
            using var engine = new Inference.OnnxWindowModel(Export(dir, mode, OnnxOutputs.Both, out var model));
            Assert.Equal(64, engine.Window);
            Assert.Equal(Norm.Mean, engine.Normalization.Mean);
            Assert.Equal(Tree.ClassCounts, engine.Hierarchy.ClassCounts);
            Assert.Equal(mode == BhccmMode.Flat, engine.Flat);
            Assert.Equal(mode == BhccmMode.Flat ? [Tree.ClassCounts[^1]] : Tree.ClassCounts, engine.ClassCounts);
            var x = Tensor.Randn([3, 4, 64, 64], new Generator(9));
            var scores = engine.Forward(x.ToArray(), 3, 64);
            Tensor[] logits;
            using (GradMode.NoGrad()) logits = model.Predict(x);
            Assert.Equal(logits.Length, scores.Length);
            for (int l = 0; l < logits.Length; l++)
            {
                var p = logits[l].Softmax(1).ToArray();
                Assert.True(p.Zip(scores[l], (e, s) => Math.Abs(e - MathF.Exp(s))).Max() <= 1e-4f);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void OtherFilesAreRefusedByName()
    {
        var dir = SharedData.TempDir("hierars-onnx-");
        try
        {
            var labelsOnly = Export(dir, BhccmMode.BidirectionalResidual, OnnxOutputs.Labels, out _);
            var e = Assert.Throws<InvalidDataException>(() => new Inference.OnnxWindowModel(labelsOnly));
            Assert.Contains("labels only", e.Message);

            var g = new OnnxGraph();
            g.Graph.Input.Add(OnnxGraph.Info("x", HieraRS.NN.Onnx.TensorProto.Types.DataType.Float, OnnxGraph.Dim(3), OnnxGraph.Dim(8), OnnxGraph.Dim(8)));
            g.Graph.Output.Add(OnnxGraph.Info(g.Op("Relu", "", ["x"]), HieraRS.NN.Onnx.TensorProto.Types.DataType.Float, OnnxGraph.Dim(3), OnnxGraph.Dim(8), OnnxGraph.Dim(8)));
            var foreign = new HieraRS.NN.Onnx.ModelProto { IrVersion = OnnxExporter.IrVersion, Graph = g.Graph };
            foreign.OpsetImport.Add(new HieraRS.NN.Onnx.OperatorSetIdProto { Version = OnnxExporter.Opset });
            var path = Path.Combine(dir, "foreign.onnx");
            File.WriteAllBytes(path, foreign.ToByteArray());
            e = Assert.Throws<InvalidDataException>(() => new Inference.OnnxWindowModel(path));
            Assert.Contains($"{path}: not an ONNX model written by `hierars export` (no 'hierars.format'", e.Message);

            ArgumentException e2;
            var good = Export(dir, BhccmMode.Independent, OnnxOutputs.Probabilities, out _);
            // this project references the CPU package, which has no CUDA provider
            e2 = Assert.Throws<ArgumentException>(() => new Inference.OnnxWindowModel(good, "cuda"));
            Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu.Linux", e2.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
