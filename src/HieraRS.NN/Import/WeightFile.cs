using HieraRS.Platform;
using System.Text;
using System.Text.RegularExpressions;
using HieraRS.Tensors;

namespace HieraRS.NN.Import;

/// <summary>
/// How a weight file's names become a model's: the checkpoint's nesting is unwrapped (state_dict,
/// model, DataParallel's module.), then <see cref="Prefix"/> selects and strips (MMSeg's "backbone."),
/// then each <see cref="Rules"/> entry rewrites names in order ("^fc\.=>head.fc.").
/// </summary>
public sealed record WeightSelection
{
    public string? Prefix { get; init; }
    public IReadOnlyList<(string Pattern, string Replacement)> Rules { get; init; } = [];

    /// <summary>Parses "from=>to;from=>to" (regular expressions, .NET replacement syntax).</summary>
    public static IReadOnlyList<(string, string)> ParseRules(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r =>
        {
            int i = r.IndexOf("=>", StringComparison.Ordinal);
            if (i <= 0) throw new ArgumentException($"map rule '{r}' is not FROM=>TO");
            _ = new Regex(r[..i]); // a bad pattern fails here, naming itself
            return (r[..i], r[(i + 2)..]);
        }).ToList();
}

/// <summary>
/// Weight files users have: safetensors, and torch.save checkpoints (torchvision, timm, MMSegmentation /
/// MMPretrain) read without running anything from them. ONNX models map onto a module tree instead
/// (<see cref="OnnxWeights"/>), since their initializers carry no module names.
/// </summary>
public static class WeightFile
{
    static readonly string[] Containers = ["state_dict.", "model.", "model_state.", "state_dict_ema.", "net."];

    /// <summary>Every tensor of a safetensors or torch.save file, under its names in the file.</summary>
    public static StateDict ReadAll(string path)
    {
        var head = new byte[9];
        int n;
        using (var fs = InputFile.OpenRead(path, "weight file")) n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (TorchCheckpoint.Sniff(head.AsSpan(0, n))) return TorchCheckpoint.Load(path);
        if (n == 9 && head[8] == (byte)'{') return SafeTensors.Load(path).Tensors;
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{path}: an ONNX model maps onto a module tree by its graph; use it as a model's pretrained weights or with 'weights convert --model'");
        throw new InvalidDataException($"{path}: neither safetensors nor a torch.save checkpoint (zip or legacy pickle)");
    }

    /// <summary>The tensors a model would take, after unwrapping, <see cref="WeightSelection.Prefix"/> and the rules.</summary>
    public static StateDict Read(string path, WeightSelection? selection = null)
    {
        selection ??= new WeightSelection();
        var all = ReadAll(path);
        var names = all.Keys.ToList();
        string container = Containers.FirstOrDefault(c => names.Any(k => k.StartsWith(c, StringComparison.Ordinal))) ?? "";
        names = names.Where(k => k.StartsWith(container, StringComparison.Ordinal)).ToList();
        string strip = container;
        if (names.Count > 0 && names.All(k => k[container.Length..].StartsWith("module.", StringComparison.Ordinal))) strip += "module.";
        if (selection.Prefix is { Length: > 0 } p)
        {
            strip += p;
            names = names.Where(k => k.StartsWith(strip, StringComparison.Ordinal)).ToList();
            if (names.Count == 0) throw new InvalidDataException($"{path}: no tensor name starts with '{p}' (after '{container}'); names look like '{all.Keys.First()}'");
        }
        var rules = selection.Rules.Select(r => (new Regex(r.Pattern, RegexOptions.None, TimeSpan.FromSeconds(1)), r.Replacement)).ToList();
        var sd = new StateDict();
        foreach (var k in names)
        {
            string name = k[strip.Length..];
            foreach (var (re, to) in rules) name = re.Replace(name, to);
            if (name.Length == 0 || sd.ContainsKey(name)) throw new InvalidDataException($"{path}: '{k}' maps to the name '{name}', which is empty or taken");
            sd.Add(name, all[k], all.TypeOf(k));
        }
        return sd;
    }
}

/// <summary>
/// How RGB weights meet N-band inputs: for each input band, the weight channel it takes (an index into
/// the file's channels, or -1 for the mean of them); the whole first layer is then scaled by
/// file channels / N so the layer's response keeps its scale (timm's adapt_input_conv does the same).
/// The default for 3-channel weights keeps the first three bands and gives every further band the mean.
/// </summary>
public sealed record BandAdaptation(IReadOnlyList<int> Channels, bool Rescale = true)
{
    public static BandAdaptation Default(int bands, int fileChannels) =>
        new(Enumerable.Range(0, bands).Select(b => b < fileChannels ? b : -1).ToArray());

    /// <summary>True when the rule keeps a file of that many channels as it is.</summary>
    public bool IsIdentity(int fileChannels) => Channels.Count == fileChannels && Channels.Select((c, i) => c == i).All(x => x);

    /// <summary>A conv weight [O, fileChannels, kh, kw] made into [O, bands, kh, kw].</summary>
    public Tensor Apply(Tensor w)
    {
        int o = w.Size(0), c = w.Size(1), k = w.Numel / (o * c), bands = Channels.Count;
        if (Channels.Any(ch => ch >= c || ch < -1)) throw new ArgumentException($"band adaptation names channel {Channels.Max()}, the weights have {c}");
        var src = w.Contiguous().Span;
        var dst = Tensor.Empty(o, bands, w.Size(2), w.Size(3));
        var d = dst.Span;
        float scale = Rescale ? (float)c / bands : 1f; // 1 when only the order changes
        for (int oi = 0; oi < o; oi++)
            for (int b = 0; b < bands; b++)
                for (int j = 0; j < k; j++)
                {
                    float v;
                    if (Channels[b] >= 0) v = src[(oi * c + Channels[b]) * k + j];
                    else { v = 0; for (int ci = 0; ci < c; ci++) v += src[(oi * c + ci) * k + j]; v /= c; }
                    d[(oi * bands + b) * k + j] = v * scale;
                }
        return dst;
    }
}

/// <summary>What loading pretrained weights did: the names loaded, adapted to the bands, skipped (with why), and left missing.</summary>
public sealed record LoadReport(string Source, IReadOnlyList<string> Loaded, IReadOnlyList<string> Adapted, IReadOnlyList<(string Name, string Why)> Skipped, IReadOnlyList<string> Missing)
{
    public string Table()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"pretrained weights from {Source}: {Loaded.Count} loaded ({Adapted.Count} adapted to the input bands), {Skipped.Count} skipped, {Missing.Count} of the model's tensors not in the file");
        foreach (var a in Adapted) sb.AppendLine($"  adapted  {a}");
        foreach (var (n, why) in Skipped.Take(20)) sb.AppendLine($"  skipped  {n}: {why}");
        if (Skipped.Count > 20) sb.AppendLine($"  ... {Skipped.Count - 20} more skipped");
        // missing tensors by module (a new head is expected to be missing as a whole)
        foreach (var g in Missing.GroupBy(m => string.Join('.', m.Split('.').Take(2))))
            sb.AppendLine($"  missing  {g.Key}{(g.Count() > 1 || g.First() != g.Key ? $".* ({g.Count()})" : "")}");
        return sb.ToString();
    }
}

public static class PretrainedLoading
{
    /// <summary>
    /// Copies the tensors whose names (as they are, or under <paramref name="fallbackPrefix"/>: a bare
    /// torchvision backbone into a segmentor's "backbone.") and shapes match; a first-layer conv weight
    /// that differs only in its input channels goes through <paramref name="bands"/>. Fails when nothing matches.
    /// </summary>
    public static LoadReport LoadInto(Module model, StateDict weights, string source, string? fallbackPrefix = null, Func<int, int, BandAdaptation>? bands = null)
    {
        var own = model.StateDict();
        string? firstConv = own.FirstOrDefault(kv => kv.Value.Rank == 4).Key;
        var loaded = new List<string>(); var adapted = new List<string>(); var skipped = new List<(string, string)>();
        foreach (var (k, v) in weights)
        {
            string? target = own.ContainsKey(k) ? k : fallbackPrefix is not null && own.ContainsKey(fallbackPrefix + k) ? fallbackPrefix + k : null;
            if (target is null) { skipped.Add((k, "no such tensor in the model")); continue; }
            var dst = own[target];
            // the first convolution meets the data's bands (count and order) by the adaptation rule
            bool inputConv = target == firstConv && bands is not null && v.Rank == 4 && dst.Rank == 4 && v.Size(0) == dst.Size(0) && v.Size(2) == dst.Size(2) && v.Size(3) == dst.Size(3);
            if (inputConv && bands!(dst.Size(1), v.Size(1)) is var rule && !rule.IsIdentity(v.Size(1)))
            {
                dst.CopyFrom(rule.Apply(v));
                loaded.Add(target); adapted.Add($"{target}: file channels [{string.Join(", ", rule.Channels.Select(c => c < 0 ? "mean" : c.ToString()))}] for the {dst.Size(1)} bands{(rule.Rescale && v.Size(1) != dst.Size(1) ? $", scaled by {v.Size(1)}/{dst.Size(1)}" : "")}");
                continue;
            }
            if (ShapeUtil.SameShape(v.Shape, dst.Shape)) { dst.CopyFrom(v); loaded.Add(target); continue; }
            skipped.Add((k, $"shape {ShapeUtil.Format(v.Shape)}, the model's {target} is {ShapeUtil.Format(dst.Shape)}"));
        }
        if (loaded.Count == 0)
            throw new InvalidDataException($"{source}: none of its {weights.Count} tensors matches the model by name and shape (file names look like '{weights.Keys.FirstOrDefault()}', the model's like '{own.Keys.First()}'); select with a prefix or map rules");
        var done = loaded.ToHashSet();
        return new LoadReport(source, loaded, adapted, skipped, own.Keys.Where(k => !done.Contains(k) && !k.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList());
    }
}
