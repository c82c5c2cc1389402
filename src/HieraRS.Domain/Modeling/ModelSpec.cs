using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Models;
using HieraRS.NN;

namespace HieraRS.Domain.Modeling;

/// <summary>
/// A network: backbone, decode head with the hierarchical classifier, optional auxiliary head; with
/// <see cref="TransLu"/>, the target branch of a TransLU model around a frozen source network. The
/// record's initialisers are the defaults of configs and checkpoints alike (<see cref="Schema"/>).
/// </summary>
public sealed record ModelSpec
{
    /// <summary>Width of the auxiliary head when a config asks for one without saying.</summary>
    public const int DefaultAuxChannels = 256;

    public string Backbone { get; init; } = "resnet18";
    public string Head { get; init; } = "uper";
    public int Channels { get; init; } = 128;
    public int[] PoolScales { get; init; } = [1, 2, 3, 6];
    /// <summary>DeepLabV3+ (aspp): ASPP dilations and the width of the stage-1 projection.</summary>
    public int[] Dilations { get; init; } = [1, 12, 24, 36];
    public int C1Channels { get; init; } = 48;
    public float Dropout { get; init; } = 0.1f;
    public BhccmMode Mode { get; init; } = BhccmMode.BidirectionalResidual;
    public bool MergeRelu { get; init; }
    /// <summary>Auxiliary FCN head on stage 3 (flat, finest level): channels and loss weight; 0 channels = none.</summary>
    public int AuxChannels { get; init; }
    public double AuxWeight { get; init; } = 0.4;
    /// <summary>ResNet output stride (32, 16 or 8: dilated last stages, as DeepLabV3+ uses 8).</summary>
    public int OutputStride { get; init; } = 32;
    /// <summary>ConvNeXt stochastic depth, rising linearly to this rate over the blocks.</summary>
    public float DropPathRate { get; init; }
    /// <summary>Data-parallel training: batch-norm statistics over the whole global batch rather than each rank's part; a config's, never stored (it does not change the network).</summary>
    public bool SyncBn { get; init; }
    /// <summary>Starting weights for training (a file or the built-in ImageNet ResNet-18); a config's, never stored.</summary>
    public PretrainedSpec? Pretrained { get; init; }
    /// <summary>TransLU: the frozen source network this spec's branch learns beside; null for an ordinary network.</summary>
    public TransLuSpec? TransLu { get; init; }

    /// <summary>The keys of a config's <c>model</c> section and of a checkpoint's <c>model</c> metadata, in the order they are stored.</summary>
    public static readonly Schema<ModelSpec> Schema = new(
        Fields<ModelSpec>.Choice("backbone", s => s.Backbone, (s, v) => s with { Backbone = v }, ModelRegistry.Backbones.Keys, required: true),
        Fields<ModelSpec>.Choice("head", s => s.Head, (s, v) => s with { Head = v }, ModelRegistry.Heads.Keys, required: true),
        Fields<ModelSpec>.Int("channels", s => s.Channels, (s, v) => s with { Channels = v }, 1, 4096, required: true),
        Fields<ModelSpec>.Ints("pool_scales", s => s.PoolScales, (s, v) => s with { PoolScales = v }),
        Fields<ModelSpec>.Float("dropout", s => s.Dropout, (s, v) => s with { Dropout = v }, 0, 0.99),
        Fields<ModelSpec>.Named("mode", s => s.Mode, (s, v) => s with { Mode = v }, ModelRegistry.Modes, required: true),
        Fields<ModelSpec>.Bool("merge_relu", s => s.MergeRelu, (s, v) => s with { MergeRelu = v }),
        Auxiliary(),
        Fields<ModelSpec>.IntChoice("output_stride", s => s.OutputStride, (s, v) => s with { OutputStride = v }, 32, 16, 8),
        Fields<ModelSpec>.Float("drop_path_rate", s => s.DropPathRate, (s, v) => s with { DropPathRate = v }, 0, 1),
        Fields<ModelSpec>.Ints("dilations", s => s.Dilations, (s, v) => s with { Dilations = v }),
        Fields<ModelSpec>.Int("c1_channels", s => s.C1Channels, (s, v) => s with { C1Channels = v }, 0, 4096));

    /// <summary>A config's <c>auxiliary: {channels, weight}</c>; <c>aux_channels</c> and <c>aux_weight</c> in a checkpoint.</summary>
    static Field<ModelSpec> Auxiliary() => new()
    {
        Key = "auxiliary",
        FromYaml = (r, m, s) =>
        {
            if (r.Node(m, "auxiliary") is not { } n) return s;
            var am = r.Mapping(n, "'auxiliary'");
            r.AllowedKeys(am, "channels", "weight");
            return s with { AuxChannels = r.OptionalInt(am, "channels", DefaultAuxChannels, 1, 4096), AuxWeight = r.OptionalDouble(am, "weight", s.AuxWeight, 0, 100) };
        },
        ToJson = (s, d) => { d["aux_channels"] = s.AuxChannels; d["aux_weight"] = s.AuxWeight; },
        FromJson = (e, s, _) => s with
        {
            AuxChannels = e.TryGetProperty("aux_channels", out var c) ? c.GetInt32() : s.AuxChannels,
            AuxWeight = e.TryGetProperty("aux_weight", out var w) ? w.GetDouble() : s.AuxWeight,
        },
    };

    /// <summary>The spec as stored in checkpoint metadata (the TransLU source is stored with the transfer).</summary>
    public string ToJson() => Schema.ToJson(this);

    /// <summary>A spec from checkpoint metadata; keys added after the first checkpoints take their defaults when absent.</summary>
    public static ModelSpec FromJson(string json, string where) =>
        Schema.FromJson(System.Text.Json.JsonDocument.Parse(json).RootElement, new ModelSpec(), where);

    /// <summary>The network for a tree and a band count, freshly initialised (the trainer then loads <see cref="Pretrained"/>).</summary>
    public SegmentationModel Build(ClassHierarchy hierarchy, int bands)
    {
        var target = BuildSegmentor(hierarchy, bands);
        if (TransLu is not { } t) return target;
        return new TransLuModel(t.Source.BuildSegmentor(t.SourceHierarchy, bands), t.SourceHierarchy, target, hierarchy, t.Options);
    }

    Segmentor BuildSegmentor(ClassHierarchy hierarchy, int bands)
    {
        var backbone = ModelRegistry.Backbones.TryGetValue(Backbone, out var b) ? b(this, bands)
            : throw new ArgumentException($"unknown backbone '{Backbone}' ({string.Join(", ", ModelRegistry.Backbones.Keys)})");
        var stageChannels = ((IBackbone)backbone).OutChannels;
        var counts = hierarchy.ClassCounts;
        var head = ModelRegistry.Heads.TryGetValue(Head, out var h) ? h(this, stageChannels, counts)
            : throw new ArgumentException($"unknown head '{Head}' ({string.Join(", ", ModelRegistry.Heads.Keys)})");
        return new Segmentor(backbone, head, ModelRegistry.Auxiliary(this, stageChannels, counts));
    }
}

/// <summary>The TransLU variant of a spec: the frozen source network, the tree it predicts, and the CDKS / CDSA settings.</summary>
public sealed record TransLuSpec(ModelSpec Source, ClassHierarchy SourceHierarchy, TransLuOptions Options);
