using System.Text.Json;
using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
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
    /// <summary>Checkpoint metadata key holding <see cref="Describe"/>.</summary>
    public const string MetadataKey = "transfer";
    public static readonly string[] Methods = ["translu", "finetune"];
    public static readonly string[] Inits = ["scratch", "backbone", "backbone_head"];

    public required string Source { get; init; }
    public string Method { get; init; } = "translu";
    public string Init { get; init; } = "backbone_head";
    public bool Cdks { get; init; } = true;
    public bool Cdsa { get; init; } = true;
    public InjectorOptions Injector { get; init; } = new();

    public TransLuOptions TransLuOptions => new() { Cdks = Cdks, Cdsa = Cdsa, Injector = Injector };

    public static TransferSpec Parse(YamlReader r, YamlMappingNode m, string baseDir)
    {
        r.AllowedKeys(m, "source", "method", "init", "cdks", "cdsa", "injector");
        string method = r.Choice(m, "method", "translu", Methods);
        var spec = new TransferSpec
        {
            Source = Path.GetFullPath(Path.Combine(baseDir, r.OptionalScalar(m, "source") ?? throw r.Error(m, "'transfer' needs 'source' (the source checkpoint)"))),
            Method = method,
            Init = r.Choice(m, "init", "backbone_head", Inits),
            Cdks = r.OptionalBool(m, "cdks", true),
            Cdsa = r.OptionalBool(m, "cdsa", true),
        };
        if (method == "translu" && r.Has(m, "init")) throw r.Error(m, "'init' is for method finetune; TransLU's target branch always starts from the source");
        if (method == "finetune" && (r.Has(m, "cdks") || r.Has(m, "cdsa") || r.Has(m, "injector")))
            throw r.Error(m, "'cdks', 'cdsa' and 'injector' are for method translu");
        if (r.Node(m, "injector") is { } inj)
        {
            var im = r.Mapping(inj, "'injector'");
            r.AllowedKeys(im, "heads", "points", "value_ratio", "ffn_ratio", "drop_path");
            spec = spec with
            {
                Injector = new InjectorOptions
                {
                    Heads = r.OptionalInt(im, "heads", 16, 1, 256), Points = r.OptionalInt(im, "points", 4, 1, 64),
                    ValueRatio = r.OptionalDouble(im, "value_ratio", 0.5, 0.01, 8), FfnRatio = r.OptionalDouble(im, "ffn_ratio", 0.25, 0.01, 8),
                    DropPath = (float)r.OptionalDouble(im, "drop_path", 0.4, 0, 0.99),
                },
            };
        }
        return spec;
    }

    /// <summary>The target network: the source's architecture with the config's head mode and dropout.</summary>
    public static ModelSpec TargetSpec(Checkpoint source, ModelSpec config) =>
        source.Spec with { Mode = config.Mode, Dropout = config.Dropout, Pretrained = null };

    /// <summary>The model to train, initialised from the source as the method says.</summary>
    public SegmentationModel Build(Checkpoint source, ModelSpec target, ClassHierarchy tree, int bands, Action<string>? log = null)
    {
        if (source.Model is not Segmentor sourceModel)
            throw new ArgumentException($"{Source}: the source must be an ordinary (not itself transferred) model");
        if (bands != source.Bands)
            throw new ArgumentException($"the target data has {bands} bands, the source checkpoint {Source} was trained on {source.Bands}");
        var model = target.Build(tree, bands);
        var weights = sourceModel.StateDict();
        if (Method == "finetune")
        {
            int n = Init switch
            {
                "backbone" => model.LoadMatching(weights, k => k.StartsWith("backbone.", StringComparison.Ordinal)),
                "backbone_head" => model.LoadMatching(weights),
                _ => 0,
            };
            log?.Invoke($"fine-tuning from {Init}: {n} tensors copied from {Source}");
            return model;
        }
        int copied = model.LoadMatching(weights);
        var frozen = source.Spec.Build(source.Tree, bands);
        frozen.LoadStateDict(weights);
        var t = new TransLuModel(frozen, source.Tree, model, tree, TransLuOptions);
        log?.Invoke($"TransLU (CDKS {(Cdks ? "on" : "off")}, CDSA {(Cdsa ? "on" : "off")}): source '{source.Tree}' frozen; target branch: {copied} tensors copied from the source where names and shapes match");
        return t;
    }

    /// <summary>What a transferred checkpoint records: the method, and for TransLU everything needed to rebuild the frozen source.</summary>
    public string Describe(Checkpoint source) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["method"] = Method, ["init"] = Method == "finetune" ? Init : null,
        ["cdks"] = Cdks, ["cdsa"] = Cdsa,
        ["injector"] = new Dictionary<string, object> { ["heads"] = Injector.Heads, ["points"] = Injector.Points, ["value_ratio"] = Injector.ValueRatio,
            ["ffn_ratio"] = Injector.FfnRatio, ["drop_path"] = Injector.DropPath },
        ["source_checkpoint"] = Source, ["source_iteration"] = source.Iteration,
        ["source_model"] = source.Spec.ToJson(), ["source_hierarchy"] = HierarchyWriter.ToYaml(source.Tree),
    });

    public static bool IsTransLu(string description) => JsonDocument.Parse(description).RootElement.GetProperty("method").GetString() == "translu";

    /// <summary>Rebuilds a TransLU model (weights not loaded) from a checkpoint's description.</summary>
    public static TransLuModel BuildTransLu(string description, ModelSpec target, ClassHierarchy tree, int bands, string where)
    {
        var d = JsonDocument.Parse(description).RootElement;
        var sourceSpec = ModelSpec.FromJson(d.GetProperty("source_model").GetString()!, where);
        var sourceTree = HierarchyLoader.Parse(d.GetProperty("source_hierarchy").GetString()!, $"{where} (source hierarchy)");
        var inj = d.GetProperty("injector");
        var options = new TransLuOptions
        {
            Cdks = d.GetProperty("cdks").GetBoolean(), Cdsa = d.GetProperty("cdsa").GetBoolean(),
            Injector = new InjectorOptions
            {
                Heads = inj.GetProperty("heads").GetInt32(), Points = inj.GetProperty("points").GetInt32(),
                ValueRatio = inj.GetProperty("value_ratio").GetDouble(), FfnRatio = inj.GetProperty("ffn_ratio").GetDouble(),
                DropPath = inj.GetProperty("drop_path").GetSingle(),
            },
        };
        return new TransLuModel(sourceSpec.Build(sourceTree, bands), sourceTree, target.Build(tree, bands), tree, options);
    }
}
