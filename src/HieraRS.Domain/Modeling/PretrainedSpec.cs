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
/// <c>{file, prefix, map, channels, bands, rescale}</c>. Tensors load where names and shapes match, bare
/// backbone names (torchvision, timm) under <c>backbone.</c>; the first convolution meets the data's bands
/// by <c>bands</c> (for each data band, the weight channel it takes, by index or by name, or <c>mean</c>;
/// default: the file's channels in order, further bands the mean; ImageNet: RGB data onto its BGR
/// channels) and is scaled by file channels / bands unless <c>rescale: false</c>. Channel names are the
/// file's <c>channels</c> (e.g. <c>[red, green, blue]</c> for torchvision) or, for ImageNet, its own
/// (blue, green, red). Only training reads it; checkpoints hold the result.
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
    /// <summary>The names of the file's input channels (null: unnamed; ImageNet names its own).</summary>
    public string[]? Channels { get; init; }
    public bool Rescale { get; init; } = true;

    public static PretrainedSpec? Parse(YamlReader r, YamlNode n, string baseDir)
    {
        if (n is YamlScalarNode)
        {
            string v = r.Text(n, "'pretrained'");
            return v == "none" ? null : new PretrainedSpec { Source = Resolve(v, baseDir) };
        }
        var m = r.Mapping(n, "'pretrained'");
        r.AllowedKeys(m, "file", "prefix", "map", "channels", "bands", "rescale");
        string? map = r.OptionalScalar(m, "map");
        if (map is not null)
            try { WeightSelection.ParseRules(map); }
            catch (ArgumentException e) { throw r.Error(m, $"pretrained.map: {e.Message}"); }
        string source = Resolve(r.Scalar(m, "file"), baseDir);
        string[]? channels = r.Node(m, "channels") is { } cn ? r.Strings(cn, "pretrained.channels") : null;
        string[]? names = channels ?? (source == ImageNet ? PretrainedBackbones.ImageNetResNet18Input.Order : null);
        return new PretrainedSpec
        {
            Source = source,
            Prefix = r.OptionalScalar(m, "prefix"),
            Map = map,
            Channels = channels,
            Bands = r.Node(m, "bands") is { } b ? r.Strings(b, "pretrained.bands").Select(v => Channel(v, names) ?? throw r.Error(b,
                names is null ? $"pretrained.bands: '{v}' is neither a channel index nor 'mean' (to name channels, give the file's: channels: [red, green, blue])"
                : $"pretrained.bands: '{v}' is neither a channel index, 'mean' nor one of the file's channels ({string.Join(", ", names)})")).ToArray() : null,
            Rescale = r.OptionalBool(m, "rescale", true),
        };
    }

    /// <summary>A data band's weight channel: an index, a channel's name, or 'mean' (-1); null when it is none of them.</summary>
    static int? Channel(string v, string[]? names) =>
        v == "mean" ? -1 : int.TryParse(v, out int c) && c >= 0 ? c
        : names is not null && Array.IndexOf(names, v) is var i and >= 0 ? i : null;

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
