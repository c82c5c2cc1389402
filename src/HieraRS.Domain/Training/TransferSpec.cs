using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Models;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Training;

/// <summary>
/// The <c>transfer</c> section of an experiment: a source checkpoint and how a target task with another
/// tree starts from it. <c>translu</c>: method.md §5 (frozen source branch, target branch initialised from
/// the source where shapes match, CDKS and CDSA switchable for the ablations). <c>finetune</c>: the
/// baselines, one model of the source's architecture on the target tree started from nothing
/// (<c>scratch</c>), the source backbone (<c>backbone</c>) or the source backbone and head where shapes
/// match (<c>backbone_head</c>). The architecture always comes from the source checkpoint.
/// </summary>
public sealed record TransferSpec
{
    public static readonly string[] Methods = [TransferRecord.TransLuMethod, "finetune"];
    public static readonly string[] Inits = ["scratch", "backbone", "backbone_head"];

    public required string Source { get; init; }
    public string Method { get; init; } = TransferRecord.TransLuMethod;
    public string Init { get; init; } = "backbone_head";
    public TransLuOptions Options { get; init; } = new();

    public static TransferSpec Parse(YamlReader r, YamlMappingNode m, string baseDir)
    {
        r.AllowedKeys(m, ["source", "method", "init", .. TransLuSchema.Options.Keys]);
        var defaults = new TransferSpec { Source = "" };
        string method = r.Choice(m, "method", defaults.Method, Methods);
        if (method == TransferRecord.TransLuMethod && r.Has(m, "init")) throw r.Error(m, "'init' is for method finetune; TransLU's target branch always starts from the source");
        if (method != TransferRecord.TransLuMethod && TransLuSchema.Options.Keys.Any(k => r.Has(m, k)))
            throw r.Error(m, "'cdks', 'cdsa' and 'injector' are for method translu");
        return new TransferSpec
        {
            Source = Path.GetFullPath(Path.Combine(baseDir, r.OptionalScalar(m, "source") ?? throw r.Error(m, "'transfer' needs 'source' (the source checkpoint)"))),
            Method = method,
            Init = r.Choice(m, "init", defaults.Init, Inits),
            Options = TransLuSchema.Options.FromYaml(r, m, defaults.Options),
        };
    }

    /// <summary>The target network: the source's architecture with the config's head mode and dropout (and, for TransLU, the source around it).</summary>
    public ModelSpec TargetSpec(Checkpoint source, ModelSpec config) =>
        source.Spec with { Mode = config.Mode, Dropout = config.Dropout, Pretrained = null, TransLu = Record(source).TransLu };

    /// <summary>What the target's checkpoints record about the transfer.</summary>
    public TransferRecord Record(Checkpoint source) => new()
    {
        Method = Method, Init = Method == TransferRecord.TransLuMethod ? null : Init,
        SourceCheckpoint = Source, SourceIteration = source.Iteration,
        SourceSpec = source.Spec, SourceHierarchy = source.Hierarchy, Options = Options,
    };

    /// <summary>The model to train (<paramref name="target"/> from <see cref="TargetSpec"/>), initialised from the source as the method says.</summary>
    public SegmentationModel Build(Checkpoint source, ModelSpec target, ClassHierarchy tree, int bands, Action<string>? log = null)
    {
        if (source.Model is not Segmentor sourceModel)
            throw new ArgumentException($"{Source}: the source must be an ordinary (not itself transferred) model");
        if (bands != source.Bands)
            throw new ArgumentException($"the target data has {bands} bands, the source checkpoint {Source} was trained on {source.Bands}");
        var model = target.Build(tree, bands);
        var weights = sourceModel.StateDict();
        if (model is TransLuModel translu)
        {
            int copied = model.LoadMatching(weights); // the target branch: backbone.*, decode_head.*, auxiliary_head.* as in the source
            translu.Source.LoadStateDict(weights);
            log?.Invoke($"TransLU (CDKS {(Options.Cdks ? "on" : "off")}, CDSA {(Options.Cdsa ? "on" : "off")}): source '{source.Hierarchy}' frozen; target branch: {copied} tensors copied from the source where names and shapes match");
            return model;
        }
        int n = Init switch
        {
            "backbone" => model.LoadMatching(weights, k => k.StartsWith("backbone.", StringComparison.Ordinal)),
            "backbone_head" => model.LoadMatching(weights),
            _ => 0,
        };
        log?.Invoke($"fine-tuning from {Init}: {n} tensors copied from {Source}");
        return model;
    }
}
