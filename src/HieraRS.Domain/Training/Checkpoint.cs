using System.Globalization;
using System.Text.Json;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Training;

/// <summary>
/// A self-describing checkpoint: one safetensors file with the model's weights (PyTorch / MMSeg
/// names), optionally the optimizer state (<c>optimizer.*</c>), and metadata holding everything
/// prediction needs (model spec, class tree, bands, normalisation) and everything a run needs to be
/// reproduced or resumed (the experiment config as written, seed, iteration, RNG state, versions).
/// </summary>
public sealed class Checkpoint
{
    public const string Format = "hierars-checkpoint-1";

    public required SegmentationModel Model { get; init; }
    public required ModelSpec Spec { get; init; }
    public required ClassHierarchy Tree { get; init; }
    public required Normalization Normalization { get; init; }
    public int Bands => Normalization.Bands;
    public long Iteration { get; init; }
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public StateDict? OptimizerState { get; init; }

    public static void Save(string path, SegmentationModel model, ModelSpec spec, ClassHierarchy tree, Normalization norm, long iteration,
        ExperimentConfig? config = null, Optimizer? optimizer = null, IReadOnlyDictionary<string, string>? extra = null)
    {
        var tensors = model.StateDict();
        if (optimizer is not null)
        {
            var os = optimizer.StateDict();
            foreach (var k in os.Keys) tensors.Add("optimizer." + k, os[k], os.TypeOf(k));
        }
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["hierars.version"] = typeof(Checkpoint).Assembly.GetName().Version?.ToString() ?? "?",
            ["dotnet"] = Environment.Version.ToString(),
            ["model"] = spec.ToJson(),
            ["hierarchy"] = HierarchyWriter.ToYaml(tree),
            ["bands"] = norm.Bands.ToString(CultureInfo.InvariantCulture),
            ["normalization"] = JsonSerializer.Serialize(new { mean = norm.Mean, std = norm.Std }),
            ["iteration"] = iteration.ToString(CultureInfo.InvariantCulture),
            ["rng"] = string.Join(",", Generator.Default.GetState()),
        };
        if (config is not null)
        {
            meta["config"] = config.Text;
            meta["config_source"] = config.Source;
            meta["seed"] = config.Seed.ToString(CultureInfo.InvariantCulture);
            meta["threads"] = Engine.Threads.ToString(CultureInfo.InvariantCulture);
        }
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) meta[k] = v;
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>Rebuilds the model from the metadata and loads its weights (strict); errors name the file.</summary>
    public static Checkpoint Load(string path)
    {
        var content = SafeTensors.Load(path);
        var meta = content.Metadata;
        string Need(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"{path}: not a HieraRS checkpoint (no '{key}' in its metadata; `hierars checkpoint inspect` shows what it holds)");
        if (Need("format") != Format) throw new InvalidDataException($"{path}: checkpoint format '{meta["format"]}', this build reads '{Format}'");
        var spec = ModelSpec.FromJson(Need("model"), path);
        var tree = HierarchyLoader.Parse(Need("hierarchy"), $"{path} (hierarchy)");
        var n = JsonDocument.Parse(Need("normalization")).RootElement;
        var norm = new Normalization(n.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            n.GetProperty("std").EnumerateArray().Select(e => e.GetSingle()).ToArray());
        SegmentationModel model = meta.TryGetValue(TransferSpec.MetadataKey, out var transfer) && TransferSpec.IsTransLu(transfer)
            ? TransferSpec.BuildTransLu(transfer, spec, tree, norm.Bands, path)
            : spec.Build(tree, norm.Bands);
        var weights = new StateDict();
        StateDict? opt = null;
        foreach (var k in content.Tensors.Keys)
        {
            if (k.StartsWith("optimizer.", StringComparison.Ordinal)) (opt ??= new StateDict()).Add(k["optimizer.".Length..], content.Tensors[k], content.Tensors.TypeOf(k));
            else weights.Add(k, content.Tensors[k], content.Tensors.TypeOf(k));
        }
        try { model.LoadStateDict(weights); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{path}: the weights do not fit the model its metadata describes: {e.Message}", e);
        }
        model.Eval(); // ready to predict; a trainer resuming from it copies its state instead
        return new Checkpoint
        {
            Model = model, Spec = spec, Tree = tree, Normalization = norm, Metadata = meta, OptimizerState = opt,
            Iteration = long.Parse(Need("iteration"), CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Restores the default generator (dropout, drop path) to its state at saving.</summary>
    public void RestoreRng()
    {
        if (Metadata.TryGetValue("rng", out var s))
            Generator.Default.SetState(s.Split(',').Select(v => ulong.Parse(v, CultureInfo.InvariantCulture)).ToArray());
    }
}
