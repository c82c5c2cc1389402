using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Models;
using HieraRS.Domain.Training;

namespace HieraRS.Domain.Tests;

/// <summary>One schema reads configs and reads and writes checkpoint metadata, so nothing is lost or defaulted twice between them.</summary>
public class ModelSpecTests
{
    static readonly ModelSpec Changed = new()
    {
        Backbone = "convnext_tiny", Head = "aspp", Channels = 64, PoolScales = [1, 3], Dilations = [1, 6, 12, 18], C1Channels = 24, Dropout = 0.25f,
        Mode = BhccmMode.CoarseToFine, MergeRelu = true, AuxChannels = 32, AuxWeight = 0.5, OutputStride = 16, DropPathRate = 0.3f,
    };

    [Fact]
    public void EveryStoredPropertyIsInTheMetadata()
    {
        string defaults = new ModelSpec().ToJson();
        foreach (var p in typeof(ModelSpec).GetProperties().Where(p => p.Name is not ("Pretrained" or "TransLu" or "SyncBn")))
        {
            var one = new ModelSpec();
            typeof(ModelSpec).GetProperty(p.Name)!.SetValue(one, p.GetValue(Changed));
            Assert.True(one.ToJson() != defaults, $"{p.Name} is not written to checkpoint metadata");
        }
        Assert.Equal(Changed.ToJson(), ModelSpec.FromJson(Changed.ToJson(), "test").ToJson());
    }

    [Fact]
    public void AConfigAndTheMetadataItWritesDescribeTheSameNetwork()
    {
        const string yaml = """
            backbone: convnext_tiny
            head: aspp
            channels: 64
            pool_scales: [1, 3]
            dilations: [1, 6, 12, 18]
            c1_channels: 24
            dropout: 0.25
            mode: coarse_to_fine
            merge_relu: true
            auxiliary: {channels: 32, weight: 0.5}
            output_stride: 16
            drop_path_rate: 0.3
            """;
        var r = new YamlReader("m.yaml");
        var spec = ModelSpec.Schema.FromYaml(r, r.Root(yaml, "a model"), new ModelSpec());
        Assert.Equal(Changed.ToJson(), spec.ToJson());
        // an auxiliary head without a width gets the documented one
        var aux = ModelSpec.Schema.FromYaml(r, r.Root("auxiliary: {weight: 0.2}", "a model"), new ModelSpec());
        Assert.Equal((ModelSpec.DefaultAuxChannels, 0.2), (aux.AuxChannels, aux.AuxWeight));
    }

    [Fact]
    public void MetadataFromBeforeAKeyExistedTakesItsDefault()
    {
        var spec = ModelSpec.FromJson("""{"backbone":"resnet50","head":"fcn","channels":32,"mode":"flat"}""", "old.safetensors");
        Assert.Equal(new ModelSpec { Backbone = "resnet50", Head = "fcn", Channels = 32, Mode = BhccmMode.Flat }.ToJson(), spec.ToJson());
        var e = Assert.Throws<InvalidDataException>(() => ModelSpec.FromJson("""{"backbone":"resnet50","head":"fcn","mode":"flat"}""", "old.safetensors"));
        Assert.Equal("old.safetensors: the model description in its metadata has no 'channels'", e.Message);
    }

    [Fact]
    public void ATransLuSpecBuildsBothBranchesAroundTheTarget()
    {
        var source = new ModelSpec { Backbone = "convnext_atto", Channels = 8, PoolScales = [1, 2] };
        var options = new TransLuOptions { Injector = new InjectorOptions { Heads = 4, Points = 2 } };
        var spec = source with { TransLu = new TransLuSpec(source, HierarchyLoader.Builtin("mm5b"), options) };
        var model = Assert.IsType<TransLuModel>(spec.Build(HierarchyLoader.Builtin("crop10m"), 4));
        Assert.Equal([4, 9, 18], model.Source.Head.ClassCounts);
        Assert.Equal([2, 2, 4], model.Head.ClassCounts);
        Assert.Same(options, model.Options);
    }

    static ExperimentConfig Experiment(string sections) =>
        ExperimentConfig.Parse("data:\n  train: {type: synthetic, hierarchy: mm5b, count: 1, size: 32}\n" + sections, "e.yaml", ".");

    [Fact]
    public void OptimizerAndScheduleDefaultsFollowTheOptimizerType()
    {
        var adamw = Experiment("");
        Assert.Equal(("adamw", 1e-4, 0.05, 0.9, 0.999), (adamw.Optimizer.Type, adamw.Optimizer.Lr, adamw.Optimizer.WeightDecay, adamw.Optimizer.Beta1, adamw.Optimizer.Beta2));
        Assert.Equal((0L, 1e-6, 1.0, 0.0), (adamw.Schedule.Warmup, adamw.Schedule.WarmupRatio, adamw.Schedule.Power, adamw.Schedule.MinLr));
        var sgd = Experiment("optimizer: {type: SGD, momentum: 0.8}\nschedule: {warmup: 5, power: 0.9}");
        Assert.Equal(("sgd", 0.01, 5e-4, 0.8, 12), (sgd.Optimizer.Type, sgd.Optimizer.Lr, sgd.Optimizer.WeightDecay, sgd.Optimizer.Momentum, sgd.Optimizer.DecayLayers));
        Assert.Equal((5L, 0.9), (sgd.Schedule.Warmup, sgd.Schedule.Power));
        var betas = Experiment("optimizer: {betas: [0.8, 0.99], lr: 0.003}");
        Assert.Equal((0.8, 0.99, 0.003, 0.05), (betas.Optimizer.Beta1, betas.Optimizer.Beta2, betas.Optimizer.Lr, betas.Optimizer.WeightDecay));
        var e = Assert.Throws<ConfigException>(() => Experiment("optimizer: {betas: [0.8, 0.9, 0.99]}"));
        Assert.Equal("e.yaml:3: 'betas' must be [beta1, beta2]", e.Message);
        e = Assert.Throws<ConfigException>(() => Experiment("schedule: {warmup_ratio: 2}"));
        Assert.Equal("e.yaml:3: 'warmup_ratio' must be in [0, 1], got 2", e.Message);
    }
}
