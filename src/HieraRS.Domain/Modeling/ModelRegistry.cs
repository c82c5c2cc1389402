using HieraRS.Domain.Config;
using HieraRS.Domain.Losses;
using HieraRS.Domain.Models;
using HieraRS.NN;

namespace HieraRS.Domain.Modeling;

/// <summary>Builds a decode head from a spec, the backbone's stage widths and the class count of every level.</summary>
public delegate DecodeHead HeadFactory(ModelSpec spec, int[] stageChannels, int[] classCounts);

/// <summary>
/// The names a config and a checkpoint use for the parts of a network, and what each builds. Adding a
/// backbone, a head or a loss is one entry here (and its class in Models or Losses).
/// </summary>
public static class ModelRegistry
{
    /// <summary>Backbones by name: a module implementing <see cref="IBackbone"/> for a spec and a band count.</summary>
    public static readonly OrderedDictionary<string, Func<ModelSpec, int, Module>> Backbones = new()
    {
        ["resnet18"] = ResNet(18), ["resnet34"] = ResNet(34), ["resnet50"] = ResNet(50), ["resnet101"] = ResNet(101),
        ["resnet18_imagenet"] = (s, bands) => new Models.ResNet(18, bands, outputStride: s.OutputStride, stageBlocks: PretrainedBackbones.ImageNetResNet18Blocks),
        ["resnet50_v1c"] = ResNet(50, deepStem: true), ["resnet101_v1c"] = ResNet(101, deepStem: true),
        ["convnext_atto"] = ConvNeXt("atto"), ["convnext_femto"] = ConvNeXt("femto"), ["convnext_pico"] = ConvNeXt("pico"),
        ["convnext_nano"] = ConvNeXt("nano"), ["convnext_tiny"] = ConvNeXt("tiny"), ["convnext_small"] = ConvNeXt("small"),
        ["convnext_base"] = ConvNeXt("base"), ["convnext_large"] = ConvNeXt("large"),
    };

    /// <summary>Decode heads by name, each carrying the hierarchical classifier of the spec's BHCCM mode.</summary>
    public static readonly OrderedDictionary<string, HeadFactory> Heads = new()
    {
        ["uper"] = (s, ch, counts) => new UPerHead(ch, s.Channels, counts, s.Mode, s.PoolScales, s.Dropout, s.MergeRelu),
        ["fcn"] = (s, ch, counts) => new FcnHead(ch[^1], s.Channels, counts, inIndex: 3, numConvs: 2, concatInput: true, mode: s.Mode, dropout: s.Dropout),
        ["aspp"] = (s, ch, counts) => new DepthwiseSeparableAsppHead(ch, s.Channels, counts, s.Mode, s.Dilations, s.C1Channels, s.Dropout, s.MergeRelu),
    };

    /// <summary>The auxiliary head on stage 3 (flat, finest level) when the spec asks for one.</summary>
    public static DecodeHead? Auxiliary(ModelSpec s, int[] stageChannels, int[] classCounts) =>
        s.AuxChannels > 0 ? new FcnHead(stageChannels[2], s.AuxChannels, [classCounts[^1]], inIndex: 2, dropout: s.Dropout) : null;

    /// <summary>Losses by their config name (<c>tree_min_focal</c> is tree-min with a focal exponent).</summary>
    public static readonly OrderedDictionary<string, LossKind> Losses = new()
    {
        ["hsc"] = LossKind.Hsc, ["hce"] = LossKind.Hce, ["class_count_ce"] = LossKind.ClassCountCe, ["flat"] = LossKind.Flat,
        ["tree_min"] = LossKind.TreeMin, ["tree_min_focal"] = LossKind.TreeMin,
    };

    /// <summary>BHCCM modes by their config and checkpoint name.</summary>
    public static readonly NameTable<BhccmMode> Modes = new("BHCCM mode",
        ("flat", BhccmMode.Flat), ("independent", BhccmMode.Independent), ("coarse_to_fine", BhccmMode.CoarseToFine),
        ("fine_to_coarse", BhccmMode.FineToCoarse), ("bidirectional", BhccmMode.Bidirectional), ("bidirectional_residual", BhccmMode.BidirectionalResidual));

    static Func<ModelSpec, int, Module> ResNet(int depth, bool deepStem = false) =>
        (s, bands) => new Models.ResNet(depth, bands, deepStem: deepStem, outputStride: s.OutputStride);

    static Func<ModelSpec, int, Module> ConvNeXt(string variant) => (s, bands) => Models.ConvNeXt.Create(variant, bands, s.DropPathRate);
}
