using HieraRS.Tensors;
using HieraRS.Domain.Metrics;
using HieraRS.Domain.Data;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Training;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

public class TrainingTests
{
    static string Config(int iterations, string extra = "") => $"""
        name: tiny
        seed: 3
        data:
          train: {"{"}type: synthetic, hierarchy: mm5b, count: 6, size: 32, seed: 1{"}"}
          val: {"{"}type: synthetic, hierarchy: mm5b, count: 2, size: 32, seed: 2, split: val{"}"}
          batch_size: 2
          augment: [{"{"}type: flip, horizontal: 0.5{"}"}, {"{"}type: rot90, prob: 0.5{"}"}]
        model: {"{"}backbone: resnet18, head: uper, channels: 8, dropout: 0.1{"}"}
        optimizer: {"{"}type: adamw, lr: 0.001, weight_decay: 0.01{"}"}
        schedule: {"{"}warmup: 2, warmup_ratio: 0.1{"}"}
        train: {"{"}iterations: {iterations}, eval_interval: 4, checkpoint_interval: 2{"}"}
        {extra}
        """;

    [Fact]
    public void ResumedRunEqualsAnUninterruptedOne()
    {
        string a = SharedData.TempDir(), b = SharedData.TempDir();
        var full = new Trainer(ExperimentConfig.Parse(Config(6), "a.yaml", a), a).Run();
        // the interrupted run stops after its checkpoint at iteration 4 (what kill -9 leaves), then resumes to 6
        var first = new Trainer(ExperimentConfig.Parse(Config(6), "b.yaml", b), b).Run(stopAfter: 4);
        Assert.Equal(4, Checkpoint.Load(first.Latest).Iteration);
        var second = new Trainer(ExperimentConfig.Parse(Config(6), "b.yaml", b), b).Run(resume: true);
        var wa = Checkpoint.Load(full.Latest);
        var wb = Checkpoint.Load(second.Latest);
        Assert.Equal(6, wb.Iteration);
        var sa = wa.Model.StateDict();
        var sb = wb.Model.StateDict();
        foreach (var k in sa.Keys) Assert.True(sa[k].ToArray().SequenceEqual(sb[k].ToArray()), $"{k} differs after resume");
        Assert.Equal(wa.OptimizerState!.Keys.Order(), wb.OptimizerState!.Keys.Order());
        Assert.Contains(File.ReadAllLines(Path.Combine(b, "log.jsonl")), l => l.Contains("\"resumed\":4"));
    }

    [Fact]
    public void CheckpointsAreSelfDescribing()
    {
        string dir = SharedData.TempDir();
        var r = new Trainer(ExperimentConfig.Parse(Config(2), "c.yaml", dir), dir).Run();
        var ck = Checkpoint.Load(r.Latest);
        Assert.Equal("mm5b", ck.Hierarchy.Name);
        Assert.Equal([4, 9, 18], ck.Hierarchy.ClassCounts);
        Assert.Equal(4, ck.Bands);
        Assert.Contains("type: synthetic", ck.Metadata["config"]);
        Assert.Equal("3", ck.Metadata["seed"]);
        Assert.NotNull(r.LastEval);
        Assert.True(File.Exists(Path.Combine(dir, "eval", "confusion_L3.png")));
    }

    [Fact]
    public void ASeedGivenOnTheCommandLineIsStoredInTheConfigText()
    {
        string dir = SharedData.TempDir();
        var cfg = ExperimentConfig.Parse(Config(2), "s.yaml", dir).WithSeed(7);
        Assert.Equal(7UL, cfg.Seed);
        var reread = ExperimentConfig.Parse(cfg.Text, "s.yaml", dir);
        Assert.Equal(7UL, reread.Seed); // the top-level key changed ...
        Assert.Contains("seed: 1", reread.Text); // ... and the datasets' own seeds did not
        Assert.Equal(1UL, (ulong)reread.Train.Seed);
        var noKey = ExperimentConfig.Parse(Config(2).Replace("seed: 3\n", ""), "t.yaml", dir);
        Assert.Equal(0UL, noKey.Seed);
        Assert.Equal(5UL, ExperimentConfig.Parse(noKey.WithSeed(5).Text, "t.yaml", dir).Seed);
    }

    [Fact]
    public void AnEvaluationSplitIntoPartsSumsToTheWholeExactly()
    {
        var tree = HierarchyLoader.Builtin("mm5b");
        var data = new SyntheticDataset(tree, new SyntheticSceneOptions { Size = 32 }, 5, seed: 9);
        Engine.ManualSeed(1);
        var model = new ModelSpec { Channels = 8 }.Build(tree, data.Bands);
        var whole = Evaluator.Evaluate(model, data);
        var parts = Enumerable.Range(0, 3).Select(r => new DatasetPart(data, r, 3)).ToArray();
        Assert.Equal([2, 2, 1], parts.Select(p => p.Count));
        Assert.Equal(data.Id(4), parts[1].Id(1)); // rank 1 of 3 takes samples 1 and 4
        var sum = new double[whole.Tallies().Length];
        foreach (var p in parts)
        {
            var t = Evaluator.Evaluate(model, p).Tallies();
            for (int i = 0; i < sum.Length; i++) sum[i] += t[i];
        }
        var merged = HierarchicalMetrics.FromTallies(tree, sum);
        Assert.Equal(whole.Tallies(), merged.Tallies());
        Assert.Equal(whole.ToJson(), merged.ToJson());
        Assert.True(whole.EvaluatedPixels > 0);
        Assert.Throws<ArgumentException>(() => HierarchicalMetrics.FromTallies(tree, sum.AsSpan(1)));
    }

    [Fact]
    public void TheLossFallsOnSyntheticScenes()
    {
        string dir = SharedData.TempDir();
        new Trainer(ExperimentConfig.Parse(Config(30).Replace("lr: 0.001", "lr: 0.003").Replace("checkpoint_interval: 2", "checkpoint_interval: 30, log_interval: 1"), "d.yaml", dir), dir).Run();
        var losses = File.ReadAllLines(Path.Combine(dir, "log.jsonl")).Where(l => l.Contains("\"loss\""))
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToList();
        Assert.Equal(30, losses.Count);
        double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
        Assert.True(last < 0.85 * first, $"loss {first:F3} -> {last:F3}");
    }

    [Fact]
    public void ConfigErrorsNameTheLine()
    {
        var e = Assert.Throws<ConfigException>(() => ExperimentConfig.Parse(Config(2, "optimiser: {lr: 1}"), "bad.yaml", "."));
        Assert.Contains("bad.yaml:12: unknown key 'optimiser'", e.Message);
        e = Assert.Throws<ConfigException>(() => ExperimentConfig.Parse(Config(2).Replace("channels: 8", "channels: 8, mode: sideways"), "bad.yaml", "."));
        Assert.Contains("bad.yaml:8: 'mode' must be one of", e.Message);
        e = Assert.Throws<ConfigException>(() => ExperimentConfig.Parse(Config(2).Replace("channels: 8", "channels: 8, mode: flat"), "bad.yaml", "."));
        Assert.Contains("needs model mode", e.Message);
    }

    [Fact]
    public void ClassWeightsAreReadPerLevel()
    {
        var cfg = ExperimentConfig.Parse(Config(2) + "\nloss: {type: hsc, alpha: 1.5, class_weights: [null, null, [1, 2, 3]]}", "w.yaml", ".");
        Assert.Equal(1.5, cfg.Alpha);
        Assert.Null(cfg.ClassWeights[0]);
        Assert.Equal([1.0, 2.0, 3.0], cfg.ClassWeights[2]!);
        string dir = SharedData.TempDir();
        var e = Assert.Throws<ArgumentException>(() => new Trainer(cfg, dir).Run());
        Assert.Contains("class_weights of level 3 has 3 values; the level has 18 classes", e.Message);
    }

    [Fact]
    public void StageWiseLearningRateDecayFollowsMmseg()
    {
        // MMSeg, num_layers 12 -> 14 ids: scale = 0.9^(14 - id - 1); downsample/stem 0, stage i -> i + 1, heads 13
        var spec = new OptimizerSpec { Lr = 1e-4, LayerDecay = 0.9 };
        Assert.Equal(0, OptimizerSpec.StageId("backbone.downsample_layers.0.0.weight", 14));
        Assert.Equal(4, OptimizerSpec.StageId("backbone.stages.3.2.gamma", 14));
        Assert.Equal(3, OptimizerSpec.StageId("backbone.layer3.0.conv1.weight", 14));
        Assert.Equal(13, OptimizerSpec.StageId("backbone.norm3.weight", 14));
        Assert.Equal(13, OptimizerSpec.StageId("decode_head.conv_seg.weight", 14));
        var model = new ModelSpec { Backbone = "convnext_atto", Channels = 16 }.Build(HierarchyLoader.Builtin("crop10m"), 10);
        var opt = spec.Build(model);
        double LrOf(string name)
        {
            var p = model.NamedParameters().First(np => np.Name == name).Parameter;
            return opt.Groups.First(g => g.Params.Contains(p)).LrMult;
        }
        Assert.Equal(Math.Pow(0.9, 13), LrOf("backbone.downsample_layers.0.0.weight"), 12);
        Assert.Equal(Math.Pow(0.9, 9), LrOf("backbone.stages.3.0.pwconv1.weight"), 12);
        Assert.Equal(1.0, LrOf("decode_head.bhccm.w12"), 12);
        Assert.Equal(0.0, opt.Groups.First(g => g.Params.Contains(model.NamedParameters().First(np => np.Name == "backbone.stages.0.0.gamma").Parameter)).DecayMult);
        Assert.Equal(model.Parameters().Count(), opt.Groups.Sum(g => g.Params.Count));
    }

    [Fact]
    public void EveryShippedConfigReads()
    {
        string? dir = null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null && dir is null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "configs", "demo.yaml"))) dir = Path.Combine(d.FullName, "configs");
        Assert.NotNull(dir);
        var files = Directory.GetFiles(dir!, "*.yaml", SearchOption.AllDirectories).Where(f => !f.Contains($"{Path.DirectorySeparatorChar}data{Path.DirectorySeparatorChar}")).ToList();
        Assert.True(files.Count >= 11, $"{files.Count} configs");
        foreach (var f in files)
        {
            var cfg = ExperimentConfig.Load(f);
            Assert.Contains(cfg.Model.Backbone, ModelRegistry.Backbones.Keys);
        }
        var paper = ExperimentConfig.Load(Path.Combine(dir!, "paper", "mm5b-gf2-convnext-b-upernet-bhccm.yaml"));
        Assert.Equal(("convnext_base", 512, 0.9, 80000L), (paper.Model.Backbone, paper.Model.Channels, paper.Optimizer.LayerDecay, paper.Run.Iterations));
        var translu = ExperimentConfig.Load(Path.Combine(dir!, "transfer", "gid-crop-translu-cdsa-only.yaml"));
        Assert.Equal(("translu", false, true, 1.0), (translu.Transfer!.Method, translu.Transfer.Options.Cdks, translu.Transfer.Options.Cdsa, translu.Alpha));
        var baseline = ExperimentConfig.Load(Path.Combine(dir!, "transfer", "gid-crop-finetune-backbone.yaml"));
        Assert.Equal(("finetune", "backbone", BhccmMode.Flat), (baseline.Transfer!.Method, baseline.Transfer.Init, baseline.Model.Mode));
    }

    [Fact]
    public void HierarchiesSurviveTheCheckpointYaml()
    {
        foreach (var name in HierarchyLoader.BuiltinNames)
        {
            var h = HierarchyLoader.Builtin(name);
            var again = HierarchyLoader.Parse(HierarchyWriter.ToYaml(h), name);
            Assert.Equal(HierarchyWriter.ToYaml(h), HierarchyWriter.ToYaml(again));
            Assert.Equal(h.Paths, again.Paths);
            Assert.Equal(h.Encodings.Keys.Order(), again.Encodings.Keys.Order());
            Assert.Equal(h.Sources.Count, again.Sources.Count);
        }
    }
}
