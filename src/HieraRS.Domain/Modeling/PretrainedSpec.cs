using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.NN.Import;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Modeling;

/// <summary>
/// A config's <c>model.pretrained</c>: where a new network's starting weights come from and how they meet
/// it. <c>pretrained: FILE</c> (safetensors, torch.save, ONNX) or <c>pretrained: imagenet</c> (the ImageNet
/// ResNet-18 the build fetches, for backbone <c>resnet18_imagenet</c>), or a mapping
/// <c>{file, prefix, map, bands, rescale}</c>. Tensors load where names and shapes match, bare backbone
/// names (torchvision, timm) under <c>backbone.</c>; the first convolution meets the data's bands by
/// <c>bands</c> (for each data band, the weight channel it takes, or <c>mean</c>; default: the file's
/// channels in order, further bands the mean; ImageNet: RGB data onto its BGR channels) and is scaled by
/// file channels / bands unless <c>rescale: false</c>. Only training reads it; checkpoints hold the result.
/// </summary>
public sealed record PretrainedSpec
{
    public const string ImageNet = "imagenet";

    /// <summary><see cref="ImageNet"/> or an absolute file path.</summary>
    public required string Source { get; init; }
    public string? Prefix { get; init; }
    public string? Map { get; init; }
    /// <summary>Per data band, the weight channel it takes (-1: the mean of them); null: the default rule.</summary>
    public int[]? Bands { get; init; }
    public bool Rescale { get; init; } = true;

    public static PretrainedSpec? Parse(YamlReader r, YamlNode n, string baseDir)
    {
        if (n is YamlScalarNode)
        {
            string v = r.Text(n, "'pretrained'");
            return v == "none" ? null : new PretrainedSpec { Source = Resolve(v, baseDir) };
        }
        var m = r.Mapping(n, "'pretrained'");
        r.AllowedKeys(m, "file", "prefix", "map", "bands", "rescale");
        string? map = r.OptionalScalar(m, "map");
        if (map is not null)
            try { WeightSelection.ParseRules(map); }
            catch (ArgumentException e) { throw r.Error(m, $"pretrained.map: {e.Message}"); }
        return new PretrainedSpec
        {
            Source = Resolve(r.Scalar(m, "file"), baseDir),
            Prefix = r.OptionalScalar(m, "prefix"),
            Map = map,
            Bands = r.Node(m, "bands") is { } b ? r.Strings(b, "pretrained.bands").Select(s => s == "mean" ? -1
                : int.TryParse(s, out int c) && c >= 0 ? c : throw r.Error(b, $"pretrained.bands: '{s}' is neither a channel index nor 'mean'")).ToArray() : null,
            Rescale = r.OptionalBool(m, "rescale", true),
        };
    }

    static string Resolve(string v, string baseDir) => v == ImageNet ? v : Path.GetFullPath(Path.Combine(baseDir, v));

    bool IsImageNet => Source == ImageNet;

    BandAdaptation Adaptation(int bands, int fileChannels) =>
        Bands is { } b ? (b.Length == bands ? new BandAdaptation(b, Rescale)
                : throw new ArgumentException($"pretrained.bands names {b.Length} bands, the data has {bands}"))
            : IsImageNet ? new BandAdaptation(Enumerable.Range(0, bands).Select(i => i < 3 ? 2 - i : -1).ToArray(), Rescale)
            : BandAdaptation.Default(bands, fileChannels) with { Rescale = Rescale };

    /// <summary>Loads the weights into a freshly built network; the report says what was loaded, adapted, skipped and left.</summary>
    public LoadReport LoadInto(Segmentor model, int bands)
    {
        StateDict weights;
        if (IsImageNet) weights = PretrainedBackbones.ImageNetResNet18Weights();
        else if (Source.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            if (bands != 3) throw new ArgumentException($"{Source}: an ONNX backbone maps onto a 3-band network; convert it first (hierars weights convert) and adapt the bands from the safetensors file");
            weights = OnnxWeights.Map(Source, model.Backbone);
        }
        else weights = WeightFile.Read(Source, new WeightSelection { Prefix = Prefix, Rules = Map is null ? [] : WeightSelection.ParseRules(Map) });
        return PretrainedLoading.LoadInto(model, weights, IsImageNet ? "the ImageNet ResNet-18" : Source, fallbackPrefix: "backbone.", bands: Adaptation);
    }

    /// <summary>
    /// The input normalisation the weights expect, in the data's band order (ImageNet: 0-255 minus the
    /// channel means, no division; bands that take the mean of the channels take the mean of the means);
    /// null when the weights do not say (files).
    /// </summary>
    public Normalization? ExpectedNormalization(int bands)
    {
        if (!IsImageNet) return null;
        var (_, mean, std) = PretrainedBackbones.ImageNetResNet18Input;
        var channels = Adaptation(bands, 3).Channels;
        return new Normalization(channels.Select(c => c >= 0 ? mean[c] : mean.Average()).ToArray(), channels.Select(c => c >= 0 ? std[c] : 1f).ToArray());
    }
}
