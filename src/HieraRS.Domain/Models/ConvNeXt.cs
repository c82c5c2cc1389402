using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>
/// ConvNeXt as a segmentation backbone (the official layout of its UPerNet release): a 4x4 stride-4
/// stem conv + LayerNorm (<c>downsample_layers.0</c>), LayerNorm + 2x2 stride-2 conv between stages
/// (<c>downsample_layers.i</c>), blocks (<c>stages.i.j</c>) with layer scale and drop path rising
/// linearly to <c>drop_path_rate</c>, and a channels-first LayerNorm per output (<c>norm0 ... norm3</c>).
/// </summary>
public sealed class ConvNeXt : Module, IStagedBackbone
{
    public static readonly IReadOnlyDictionary<string, (int[] Depths, int[] Dims)> Variants = new Dictionary<string, (int[], int[])>
    {
        ["atto"] = ([2, 2, 6, 2], [40, 80, 160, 320]), ["femto"] = ([2, 2, 6, 2], [48, 96, 192, 384]),
        ["pico"] = ([2, 2, 6, 2], [64, 128, 256, 512]), ["nano"] = ([2, 2, 8, 2], [80, 160, 320, 640]),
        ["tiny"] = ([3, 3, 9, 3], [96, 192, 384, 768]), ["small"] = ([3, 3, 27, 3], [96, 192, 384, 768]),
        ["base"] = ([3, 3, 27, 3], [128, 256, 512, 1024]), ["large"] = ([3, 3, 27, 3], [192, 384, 768, 1536]),
    };

    readonly ModuleList downsample, stages;
    readonly LayerNorm[] norms;
    public int[] OutChannels { get; }
    public int[] Depths { get; }

    public ConvNeXt(int[] depths, int[] dims, int inChannels = 3, float dropPathRate = 0f, float layerScaleInit = 1e-6f)
    {
        if (depths.Length != 4 || dims.Length != 4) throw new ArgumentException("ConvNeXt needs four stage depths and widths");
        Depths = depths; OutChannels = dims;
        downsample = Register("downsample_layers", new ModuleList(Enumerable.Range(0, 4).Select(i => (Module)(i == 0
            ? new Sequential(new Conv2d(inChannels, dims[0], 4, 4), new LayerNorm(dims[0], 1e-6f, channelsFirst: true))
            : new Sequential(new LayerNorm(dims[i - 1], 1e-6f, channelsFirst: true), new Conv2d(dims[i - 1], dims[i], 2, 2))))));
        int total = depths.Sum(), k = 0;
        stages = Register("stages", new ModuleList(Enumerable.Range(0, 4).Select(i => (Module)new Sequential(
            Enumerable.Range(0, depths[i]).Select(_ => (Module)new ConvNeXtBlock(dims[i], total > 1 ? dropPathRate * k++ / (total - 1) : 0f, layerScaleInit)).ToArray()))));
        norms = Enumerable.Range(0, 4).Select(i => Register($"norm{i}", new LayerNorm(dims[i], 1e-6f, channelsFirst: true))).ToArray();
        InitWeights();
    }

    public static ConvNeXt Create(string variant, int inChannels = 3, float dropPathRate = 0f) =>
        Variants.TryGetValue(variant, out var v) ? new ConvNeXt(v.Depths, v.Dims, inChannels, dropPathRate)
            : throw new ArgumentException($"unknown ConvNeXt variant '{variant}' ({string.Join(", ", Variants.Keys)})");

    /// <summary>The official init: truncated normal (std 0.02) for conv and linear weights, zero biases.</summary>
    void InitWeights()
    {
        foreach (var (_, m) in NamedModules())
            switch (m)
            {
                case Conv2d c: Init.TruncNormal(c.Weight, std: 0.02f); if (c.Bias is { } cb) Init.Constant(cb, 0); break;
                case Linear l: Init.TruncNormal(l.Weight, std: 0.02f); if (l.Bias is { } lb) Init.Constant(lb, 0); break;
            }
    }

    public Tensor[] ForwardFeatures(Tensor x) => StagedBackbone.Features(this, x);

    public Tensor Stem(Tensor x) => downsample[0].Forward(x);

    /// <summary>Stage 0's blocks; then per stage its downsampler and blocks (39 units for ConvNeXt-B, as method.md §5 counts them).</summary>
    public IReadOnlyList<(Module Unit, int Stage, bool Downsampler)> Units => units ??= Enumerable.Range(0, 4)
        .SelectMany(i => (i > 0 ? [(downsample[i], i, true)] : Array.Empty<(Module, int, bool)>())
            .Concat(stages[i].NamedChildren().Select(c => (c.Module, i, false)))).ToList();
    List<(Module, int, bool)>? units;

    public Tensor Output(int stage, Tensor x) => norms[stage].Forward(x);
}
