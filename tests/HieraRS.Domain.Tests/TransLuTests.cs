using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Training;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class TransLuTests
{
    [Fact]
    public void DeformableAttentionMatchesPyTorch()
    {
        // MSDeformAttn, one level, 4 heads x 3 points, value width 0.5: outputs and the gradients of
        // query, reference points, value and every parameter (tools/make_golden_translu.py)
        var t = Golden.Load("translu", "msda");
        var m = new MultiScaleDeformableAttention(16, heads: 4, points: 3, ratio: 0.5);
        Golden.CheckModule(t, m, xs => [m.Forward(xs[0], xs[1], xs[2], 4, 5)], 2e-4);
    }

    [Fact]
    public void DeformableAttentionStartsFromTheReferenceRing()
    {
        var m = new MultiScaleDeformableAttention(32, heads: 8, points: 4, ratio: 0.5);
        var sd = m.StateDict();
        Golden.AssertClose(Golden.Load("translu", "msda_init")["sampling_offsets.bias"], sd["sampling_offsets.bias"], 1e-6, "offset bias");
        Assert.All(sd["sampling_offsets.weight"].ToArray(), v => Assert.Equal(0f, v));
        Assert.All(sd["attention_weights.bias"].ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void InjectorMatchesPyTorch()
    {
        var t = Golden.Load("translu", "injector");
        var inj = new Injector(16, 24, new InjectorOptions { Heads = 4, Points = 2, ValueRatio = 0.5, FfnRatio = 0.25, DropPath = 0 });
        Golden.CheckModule(t, inj, xs => [inj.Forward(xs[0], xs[1])], 2e-4);
    }

    [Fact]
    public void AFreshInjectorLeavesTheTargetAsItIs()
    {
        var inj = new Injector(16, 16, new InjectorOptions { Heads = 4 });
        var x1 = Tensor.Randn([1, 16, 3, 4], new Generator(1));
        var x2 = Tensor.Randn([1, 16, 3, 4], new Generator(2));
        Assert.Equal(x1.ToArray(), inj.Forward(x1, x2).ToArray()); // gates start at zero
    }

    static List<(Module, int, bool)> Layout(int[] depths, bool downsamplers)
    {
        var units = new List<(Module, int, bool)>();
        for (int s = 0; s < depths.Length; s++)
        {
            if (downsamplers && s > 0) units.Add((new Identity(), s, true));
            for (int b = 0; b < depths[s]; b++) units.Add((new Identity(), s, false));
        }
        return units;
    }

    [Fact]
    public void InteractionStagesFollowTheMethodForConvNeXtBAndTheStatedRuleElsewhere()
    {
        var convnextB = Cdks.InteractionStages(Layout([3, 3, 27, 3], downsamplers: true));
        int[][] method = [[0, 2], [3, 6], [7, 10], [11, 13], [14, 16], [17, 19], [20, 22], [23, 25], [26, 28], [29, 31], [32, 34], [35, 38]];
        Assert.Equal(method.Length, convnextB.Count);
        for (int i = 0; i < method.Length; i++)
            Assert.Equal(Enumerable.Range(method[i][0], method[i][1] - method[i][0] + 1), convnextB[i]);
        // the real backbones expose the layouts the rule is applied to (a ConvNeXt-B's depths at a small width)
        var b = new ConvNeXt([3, 3, 27, 3], [8, 8, 8, 8]);
        Assert.Equal(39, b.Units.Count);
        Assert.Equal(convnextB, Cdks.InteractionStages(b.Units));
        Assert.Equal(5, Cdks.InteractionStages(ConvNeXt.Create("atto").Units).Count); // 2/2/6/2 -> 1 + 1 + 2 + 1
        Assert.Equal([[0, 1], [2, 3], [4, 5], [6, 7]], Cdks.InteractionStages(ResNet.ResNet18().Units));
        Assert.Equal(12, Cdks.InteractionStages(new ResNet(101).Units).Count); // 3/4/23/3 -> 1 + 2 + 8 + 1
    }

    static ClassHierarchy GidSource => HierarchyLoader.Builtin("gid").Truncate(2);

    [Fact]
    public void TheCropTreeAlignsWithTheGidSource()
    {
        var a = new TransferAlignment(HierarchyLoader.Builtin("gid-crop"), GidSource);
        Assert.Equal([0, 1, 0], a.Tables[0]);       // artificial surface, vegetation, water -> other, vegetation, other
        Assert.Equal([0, 1, 0, 0, 0], a.Tables[1]); // built-up, farmland, forest, meadow, water -> farmland only for farmland
        // soft masks of a level sum to one (other = 1 - M_veg)
        var z = Tensor.Randn([2, 5, 3, 4], new Generator(3));
        var m = a.Masks(1, z, 2).ToArray();
        var p = z.Softmax(1).ToArray();
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(1f, m[i] + m[12 + i], 5);
            Assert.Equal(p[12 + i], m[12 + i], 6); // farmland's mask is the source's farmland probability
        }
    }

    [Fact]
    public void PseudoLabelsAreTheSourceArgmaxNearestResized()
    {
        var a = new TransferAlignment(HierarchyLoader.Builtin("gid-crop"), GidSource);
        // level 1 source logits on a 2 x 2 map: argmax vegetation at (0, 1) and (1, 0)
        var z = Tensor.FromArray([
            5, 0, 0, 0,   // artificial surface
            0, 5, 5, 0,   // vegetation
            0, 0, 0, 5], 1, 3, 2, 2);
        var y = a.PseudoLabels(0, z, 4, 4, [Enumerable.Repeat((byte)1, 15).Append((byte)0).ToArray()]);
        Assert.Equal(new long[] { 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, ClassHierarchy.NoClass }, y.Data);
    }

    [Fact]
    public void BadTargetTreesAreClearErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => new TransferAlignment(HierarchyLoader.Builtin("gid-crop"), HierarchyLoader.Builtin("mm5b")));
        Assert.Contains("maps to hierarchy 'gid', but the source checkpoint's tree is 'mm5b'", e.Message);
        string tree = """
            name: t
            levels:
              - name: L1
                classes: [{name: other, colour: [9, 9, 9]}, {name: vegetation, colour: [0, 9, 0]}]
              - name: L2
                classes: [{name: x, parent: other, colour: [9, 9, 9]}, {name: y, parent: vegetation, colour: [0, 9, 0]}]
            sources:
              - hierarchy: gid
                level: 1
                classes: {vegetation: [vegetation], other: [water]}
            """;
        e = Assert.Throws<ArgumentException>(() => new TransferAlignment(HierarchyLoader.Parse(tree, "t.yaml"), GidSource));
        Assert.Contains("source class 'artificial surface' is not given to any target class", e.Message);
        e = Assert.Throws<ArgumentException>(() => new TransferAlignment(HierarchyLoader.Parse(tree.Replace("other: [water]", "other: [water, artificial surface, vegetation]"), "t.yaml"), GidSource));
        Assert.Contains("source class 'vegetation' is given to both", e.Message);
    }
}

/// <summary>A small BHCCM source trained on synthetic MM-5B scenes, for transfers to the crop10m tree (whose 'sources' map onto mm5b).</summary>
public sealed class TransferFixture
{
    public string Dir { get; } = SharedData.TempDir("hierars-transfer-");
    public string Source { get; }

    public TransferFixture()
    {
        string cfg = """
            name: source
            seed: 1
            data:
              train: {type: synthetic, hierarchy: mm5b, count: 4, size: 64, seed: 1}
              batch_size: 2
            model: {backbone: resnet18, head: uper, channels: 16, dropout: 0}
            optimizer: {type: adamw, lr: 0.003, weight_decay: 0.01}
            train: {iterations: 4, checkpoint_interval: 4}
            """;
        Source = new Trainer(ExperimentConfig.Parse(cfg, "s.yaml", Dir), Path.Combine(Dir, "source")).Run().Latest;
    }

    public string Config(string transfer, string mode = "bidirectional_residual", string loss = "hsc", int iterations = 3) => $"""
        name: target
        seed: 2
        data:
          train: {"{"}type: synthetic, hierarchy: crop10m, count: 4, size: 64, seed: 5{"}"}
          val: {"{"}type: synthetic, hierarchy: crop10m, count: 2, size: 64, seed: 6{"}"}
          batch_size: 2
        model: {"{"}mode: {mode}, dropout: 0{"}"}
        loss: {"{"}type: {loss}{"}"}
        optimizer: {"{"}type: adamw, lr: 0.001, weight_decay: 0.01{"}"}
        train: {"{"}iterations: {iterations}, checkpoint_interval: {iterations}, eval_interval: {iterations}{"}"}
        transfer:
          source: {Source}
        {transfer}
        """;
}

public class TransferTrainingTests(TransferFixture f) : IClassFixture<TransferFixture>
{
    [Fact]
    public void TransLuTrainsTheTargetAndLeavesTheSourceAsItWas()
    {
        string dir = SharedData.TempDir();
        var cfg = ExperimentConfig.Parse(f.Config("  injector: {heads: 4, points: 2}"), "t.yaml", dir);
        Assert.Equal(1.0, cfg.Alpha); // method.md: 1.0 * L_HPC
        var source = Checkpoint.Load(f.Source);
        var r = new Trainer(cfg, dir).Run();
        var ck = Checkpoint.Load(r.Latest);
        var model = Assert.IsType<TransLuModel>(ck.Model);
        var sd = ck.Model.StateDict();
        // the frozen branch: every weight and running statistic of the source, unchanged
        foreach (var (k, v) in source.Model.StateDict())
            Assert.Equal(v.ToArray(), sd["source." + k].ToArray());
        // the target branch started from the source and moved; the injector gates left zero
        Assert.NotEqual(source.Model.StateDict()["backbone.layer1.0.conv1.weight"].ToArray(), sd["backbone.layer1.0.conv1.weight"].ToArray());
        Assert.Contains(sd["cdks.injectors.0.gamma"].ToArray(), v => v != 0);
        // the log follows the gates: each injector's mean |g_ca| as the checkpoint holds it, the fusions' a_k, b_k
        var logged = File.ReadLines(Path.Combine(dir, "log.jsonl")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Last(e => e.TryGetProperty("model", out _)).GetProperty("model");
        Assert.Equal(sd["cdks.injectors.0.gamma"].ToArray().Average(v => Math.Abs(v)), logged.GetProperty("g_ca0").GetSingle(), 1e-6);
        Assert.Equal(sd["cdks.fusions.3.b"].Item(), logged.GetProperty("b3").GetSingle());
        Assert.Equal(1, model.Alignment.Tables[1].Count(t => t == 1)); // mm5b cropland -> crop10m cropland, alone
        Assert.NotNull(r.LastEval);
        // a transferred checkpoint predicts by itself: same logits as the trained model after a reload
        var x = Tensor.Randn([1, 4, 64, 64], new Generator(9));
        var again = Checkpoint.Load(r.Latest).Model;
        using (GradMode.NoGrad())
            Assert.Equal(ck.Model.Predict(x)[2].ToArray(), again.Predict(x)[2].ToArray());
    }

    [Theory]
    [InlineData("scratch")]
    [InlineData("backbone")]
    [InlineData("backbone_head")]
    public void FineTuningBaselinesStartFromWhatTheySay(string init)
    {
        string dir = SharedData.TempDir();
        var cfg = ExperimentConfig.Parse(f.Config($"  method: finetune\n  init: {init}", "flat", "flat", iterations: 1), "t.yaml", dir);
        var source = Checkpoint.Load(f.Source).Model.StateDict();
        Engine.ManualSeed(cfg.Seed);
        var spec = cfg.Transfer!.TargetSpec(Checkpoint.Load(f.Source), cfg.Model);
        var model = cfg.Transfer!.Build(Checkpoint.Load(f.Source), spec, HierarchyLoader.Builtin("crop10m"), 4);
        var sd = model.StateDict();
        bool Same(string k) => source[k].ToArray().SequenceEqual(sd[k].ToArray());
        Assert.Equal(init != "scratch", Same("backbone.layer4.1.conv2.weight"));
        Assert.Equal(init == "backbone_head", Same("decode_head.fpn_bottleneck.conv.weight"));
        Assert.Equal(4, sd["decode_head.conv_seg.weight"].Size(0)); // the 4 crop classes: a fresh classifier
        Assert.IsType<Segmentor>(model);
    }

    [Fact]
    public void TransferConfigsAreCheckedBeforeAnyWork()
    {
        var e = Assert.ThrowsAny<Exception>(() => ExperimentConfig.Parse(f.Config("  method: translu", mode: "flat", loss: "flat"), "t.yaml", "."));
        Assert.Contains("TransLU needs a hierarchical target head", e.Message);
        e = Assert.ThrowsAny<Exception>(() => ExperimentConfig.Parse(f.Config("").Replace("model: {mode", "model: {backbone: resnet50, mode"), "t.yaml", "."));
        Assert.Contains("backbone", e.Message);
        e = Assert.ThrowsAny<Exception>(() => ExperimentConfig.Parse(f.Config("  method: finetune\n  cdks: false", "flat", "flat"), "t.yaml", "."));
        Assert.Contains("'cdks', 'cdsa' and 'injector' are for method translu", e.Message);
    }
}
