using System.Globalization;
using System.Text.Json;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Modeling;

/// <summary>The run a checkpoint came from: the experiment config as written, where it was read from, seed and threads.</summary>
public sealed record RunRecord(string ConfigText, string ConfigSource, ulong Seed, int Threads);

/// <summary>
/// A self-describing checkpoint: one safetensors file with the model's weights (PyTorch / MMSeg
/// names), optionally the optimizer state (<c>optimizer.*</c>), and metadata holding everything
/// prediction needs (model spec, class tree, bands, normalisation) and everything a run needs to be
/// reproduced or resumed (the experiment config as written, seed, iteration, RNG state, versions).
/// Every metadata key is a typed property here; <see cref="Metadata"/> keeps them as stored.
/// </summary>
public sealed class Checkpoint
{
    public const string Format = "hierars-checkpoint-1";

    public required SegmentationModel Model { get; init; }
    /// <summary>The network (with its TransLU source for a TransLU model).</summary>
    public required ModelSpec Spec { get; init; }
    public required ClassHierarchy Hierarchy { get; init; }
    public required Normalization Normalization { get; init; }
    public int Bands => Normalization.Bands;
    public long Iteration { get; init; }
    /// <summary>The default generator's state at saving (dropout, drop path), for an exact resume.</summary>
    public ulong[]? Rng { get; init; }
    /// <summary>The best value of the run's selection metric so far.</summary>
    public double? Best { get; init; }
    public RunRecord? Run { get; init; }
    public TransferRecord? Transfer { get; init; }
    public StateDict? OptimizerState { get; init; }
    /// <summary>The metadata as stored (what <c>checkpoint inspect</c> shows); empty for a checkpoint not yet saved.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Writes the model's weights, the optimizer's state when given, and the typed fields as metadata (atomically).</summary>
    public void Save(string path, Optimizer? optimizer = null)
    {
        var tensors = Model.StateDict();
        if (optimizer is not null)
        {
            var os = optimizer.StateDict();
            foreach (var k in os.Keys) tensors.Add("optimizer." + k, os[k], os.TypeOf(k));
        }
        SafeTensors.Save(path, tensors, ToMetadata());
    }

    Dictionary<string, string> ToMetadata()
    {
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["hierars.version"] = typeof(Checkpoint).Assembly.GetName().Version?.ToString() ?? "?",
            ["dotnet"] = Environment.Version.ToString(),
            ["model"] = Spec.ToJson(),
            ["hierarchy"] = HierarchyWriter.ToYaml(Hierarchy),
            ["bands"] = I(Bands),
            ["normalization"] = JsonSerializer.Serialize(new { mean = Normalization.Mean, std = Normalization.Std }),
            ["iteration"] = I(Iteration),
        };
        if (Rng is { } rng) meta["rng"] = string.Join(",", rng);
        if (Run is { } run)
        {
            meta["config"] = run.ConfigText;
            meta["config_source"] = run.ConfigSource;
            meta["seed"] = I(run.Seed);
            meta["threads"] = I(run.Threads);
        }
        if (Best is { } best) meta["best"] = best.ToString("R", CultureInfo.InvariantCulture);
        if (Transfer is { } t) meta[TransferRecord.MetadataKey] = t.ToJson();
        return meta;
    }

    static string I<T>(T v) where T : IFormattable => v.ToString(null, CultureInfo.InvariantCulture);

    /// <summary>Rebuilds the model from the metadata and loads its weights (strict); errors name the file.</summary>
    public static Checkpoint Load(string path)
    {
        var content = SafeTensors.Load(path);
        var meta = content.Metadata;
        string Need(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"{path}: not a HieraRS checkpoint (no '{key}' in its metadata; `hierars checkpoint inspect` shows what it holds)");
        if (Need("format") != Format) throw new InvalidDataException($"{path}: checkpoint format '{meta["format"]}', this build reads '{Format}'");
        try { return Decode(path, content, Need); }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: damaged checkpoint metadata ({e.Message})", e);
        }
    }

    static Checkpoint Decode(string path, SafeTensors.Content content, Func<string, string> need)
    {
        var meta = content.Metadata;
        var transfer = meta.TryGetValue(TransferRecord.MetadataKey, out var tj) ? TransferRecord.FromJson(tj, path) : null;
        var spec = ModelSpec.FromJson(need("model"), path) with { TransLu = transfer?.TransLu };
        var tree = HierarchyLoader.Parse(need("hierarchy"), $"{path} (hierarchy)");
        var n = JsonDocument.Parse(need("normalization")).RootElement;
        var norm = new Normalization(n.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            n.GetProperty("std").EnumerateArray().Select(e => e.GetSingle()).ToArray());
        var (weights, optimizer) = Split(content.Tensors);
        SegmentationModel model;
        using (Init.Skipped()) model = spec.Build(tree, norm.Bands); // the strict load below sets every weight
        try { model.LoadStateDict(weights); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{path}: the weights do not fit the model its metadata describes: {e.Message}", e);
        }
        model.Eval(); // ready to predict; a trainer resuming from it copies its state instead
        return new Checkpoint
        {
            Model = model, Spec = spec, Hierarchy = tree, Normalization = norm, Metadata = meta, OptimizerState = optimizer, Transfer = transfer,
            Iteration = long.Parse(need("iteration"), CultureInfo.InvariantCulture),
            Rng = meta.TryGetValue("rng", out var rng) ? rng.Split(',').Select(v => ulong.Parse(v, CultureInfo.InvariantCulture)).ToArray() : null,
            Best = meta.TryGetValue("best", out var best) ? double.Parse(best, CultureInfo.InvariantCulture) : null,
            Run = meta.TryGetValue("config", out var text) ? new RunRecord(text, meta.GetValueOrDefault("config_source", "checkpoint"),
                ulong.Parse(meta.GetValueOrDefault("seed", "0"), CultureInfo.InvariantCulture), int.Parse(meta.GetValueOrDefault("threads", "0"), CultureInfo.InvariantCulture)) : null,
        };
    }

    /// <summary>The model's weights and the optimizer's state (<c>optimizer.*</c>, null when absent).</summary>
    static (StateDict Weights, StateDict? Optimizer) Split(StateDict tensors)
    {
        var weights = new StateDict();
        StateDict? opt = null;
        foreach (var k in tensors.Keys)
        {
            if (k.StartsWith("optimizer.", StringComparison.Ordinal)) (opt ??= new StateDict()).Add(k["optimizer.".Length..], tensors[k], tensors.TypeOf(k));
            else weights.Add(k, tensors[k], tensors.TypeOf(k));
        }
        return (weights, opt);
    }

    /// <summary>Restores the default generator (dropout, drop path) to its state at saving.</summary>
    public void RestoreRng()
    {
        if (Rng is { } s) Generator.Default.SetState(s);
    }
}
