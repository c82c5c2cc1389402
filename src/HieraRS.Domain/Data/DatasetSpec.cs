using HieraRS.Platform;
using HieraRS.Domain.Config;
using HieraRS.Tensors;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Data;

/// <summary>How named splits are made when the files are not already in per-split folders.</summary>
public enum SplitMethod { Hash, Lists }

/// <summary>
/// Splits by a seeded hash of each tile's id (stable when tiles are added: a tile never changes
/// split) with the given fractions, or by list files of tile ids.
/// </summary>
public sealed record SplitSpec(SplitMethod Method, ulong Seed, IReadOnlyList<(string Name, double Fraction)> Fractions, IReadOnlyDictionary<string, string> Lists)
{
    public static SplitSpec Default { get; } = new(SplitMethod.Hash, 0,
        [("train", 0.8), ("val", 0.2)], new Dictionary<string, string>());
}

/// <summary>
/// A dataset as a config describes it (the <c>data</c> section of an experiment, or a file of its
/// own). Kinds: <c>gid-mtl</c>, <c>mm5b</c>, <c>crop10m</c>, <c>whdld</c> (fixed layouts with their
/// defaults), <c>folder</c> (image and label patterns given) and <c>synthetic</c> (generated scenes).
/// </summary>
public sealed record DatasetSpec
{
    public static readonly string[] Kinds = ["gid-mtl", "mm5b", "crop10m", "whdld", "folder", "synthetic"];

    public string Type { get; init; } = "folder";
    /// <summary>Folder the patterns are relative to (absolute once parsed).</summary>
    public string Root { get; init; } = "";
    /// <summary>Keep only the first this many levels of the tree (labels of finer levels are mapped up to them); 0 = all.</summary>
    public int Levels { get; init; }
    /// <summary>Built-in hierarchy name or file; empty = the kind's default.</summary>
    public string Hierarchy { get; init; } = "";
    public string Split { get; init; } = "train";
    public SplitSpec Splits { get; init; } = SplitSpec.Default;
    /// <summary>gid-mtl: which sets (GID-MTL15: finest labels; GID-MTL5: L2-only labels).</summary>
    public string[] Sets { get; init; } = ["GID-MTL15"];
    /// <summary>mm5b: gf2 | google | s2.</summary>
    public string Source { get; init; } = "gf2";
    /// <summary>Label encoding of the hierarchy the files use (mm5b: "fbp24" converts FBP-24 files on the fly).</summary>
    public string Encoding { get; init; } = "default";
    /// <summary>1-based bands to read, in this order; null = every band of the files.</summary>
    public int[]? Bands { get; init; }
    public Normalization? Normalize { get; init; }
    /// <summary>Overrides the files' nodata value (applied to every band).</summary>
    public double? NoData { get; init; }
    /// <summary>folder: glob of images relative to the root; may hold {split}.</summary>
    public string? Images { get; init; }
    /// <summary>folder: label path template with {split} {stem} {name} {parent} {rel}.</summary>
    public string? Labels { get; init; }
    /// <summary>synthetic: number of scenes, their size and seed.</summary>
    public int Count { get; init; } = 16;
    public int Size { get; init; } = 256;
    public ulong Seed { get; init; }

    public static DatasetSpec Load(string path)
    {
        var r = new YamlReader(path);
        return Parse(r, r.Root(InputFile.ReadAllText(path, "dataset file", YamlReader.MaxFileBytes), "'type'"), Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Reads a data section; relative paths are resolved against <paramref name="baseDir"/>.</summary>
    public static DatasetSpec Parse(YamlReader r, YamlMappingNode m, string baseDir)
    {
        r.AllowedKeys(m, "type", "root", "hierarchy", "split", "splits", "sets", "source", "encoding", "bands", "normalize",
            "nodata", "images", "labels", "count", "size", "seed", "levels");
        string type = r.Choice(m, "type", "folder", Kinds);
        string Abs(string p) => Path.GetFullPath(Path.Combine(baseDir, p));
        var spec = new DatasetSpec
        {
            Type = type,
            Root = r.OptionalScalar(m, "root") is { } root ? Abs(root) : type == "synthetic" ? "" : throw r.Error(m, $"a '{type}' dataset needs 'root'"),
            Hierarchy = r.OptionalScalar(m, "hierarchy") is { } h ? (File.Exists(Path.Combine(baseDir, h)) ? Abs(h) : h) : "",
            Split = r.OptionalScalar(m, "split") ?? "train",
            Sets = r.Node(m, "sets") is { } sets ? r.Strings(sets, "'sets'") : ["GID-MTL15"],
            Source = r.Choice(m, "source", "gf2", "gf2", "google", "s2"),
            Encoding = r.OptionalScalar(m, "encoding") ?? "default",
            Bands = r.Node(m, "bands") is { } b ? r.Doubles(b, "'bands'").Select(v => v >= 1 && v == Math.Floor(v) ? (int)v
                : throw r.Error(b, $"'bands' are 1-based band numbers, got {v}")).ToArray() : null,
            Normalize = r.Node(m, "normalize") is { } n ? ParseNormalization(r, r.Mapping(n, "'normalize'")) : null,
            NoData = r.Node(m, "nodata") is { } nd ? r.Double(nd, "'nodata'") : null,
            Images = r.OptionalScalar(m, "images"),
            Labels = r.OptionalScalar(m, "labels"),
            Count = r.OptionalInt(m, "count", 16, 1),
            Size = r.OptionalInt(m, "size", 256, 16, 16384),
            Seed = (ulong)r.OptionalInt(m, "seed", 0, 0),
            Levels = r.OptionalInt(m, "levels", 0, 1, 7),
        };
        if (type == "gid-mtl")
            foreach (var s in spec.Sets)
                if (s is not ("GID-MTL15" or "GID-MTL5")) throw r.Error(r.Node(m, "sets")!, $"unknown GID-MTL set '{s}' (GID-MTL15, GID-MTL5)");
        if (type == "folder" && spec.Images is null) throw r.Error(m, "a 'folder' dataset needs 'images' (a glob relative to the root)");
        if (r.Node(m, "splits") is { } sp) spec = spec with { Splits = ParseSplits(r, r.Mapping(sp, "'splits'"), baseDir) };
        return spec;
    }

    static Normalization ParseNormalization(YamlReader r, YamlMappingNode m)
    {
        r.AllowedKeys(m, "mean", "std", "scale");
        if (r.Node(m, "scale") is { } s)
        {
            if (r.Has(m, "mean") || r.Has(m, "std")) throw r.Error(m, "give either 'scale' or 'mean' and 'std'");
            double v = r.Double(s, "'scale'");
            if (!(v > 0)) throw r.Error(s, $"'scale' must be positive, got {v}");
            return Normalization.Scale(1, v); // widened to the band count when the dataset opens
        }
        var mean = r.Doubles(r.Node(m, "mean") ?? throw r.Error(m, "missing 'mean'"), "'mean'");
        var stdNode = r.Node(m, "std") ?? throw r.Error(m, "missing 'std'");
        var std = r.Doubles(stdNode, "'std'");
        if (mean.Length != std.Length) throw r.Error(stdNode, $"'std' has {std.Length} values but 'mean' has {mean.Length}");
        if (std.Any(v => !(v > 0))) throw r.Error(stdNode, "every 'std' must be positive");
        return new Normalization(mean.Select(v => (float)v).ToArray(), std.Select(v => (float)v).ToArray());
    }

    static SplitSpec ParseSplits(YamlReader r, YamlMappingNode m, string baseDir)
    {
        string method = r.Choice(m, "method", "hash", "hash", "lists");
        ulong seed = (ulong)r.OptionalInt(m, "seed", 0, 0);
        var fractions = new List<(string Name, double Fraction)>();
        var lists = new Dictionary<string, string>();
        foreach (var (k, v) in m.Children)
        {
            string key = r.Text(k, "a split name");
            if (key is "method" or "seed") continue;
            if (key == "all") throw r.Error(k, "'all' is a reserved split name (every tile)");
            if (method == "hash")
            {
                double f = r.Double(v, $"the fraction of split '{key}'");
                if (f <= 0 || f > 1) throw r.Error(v, $"the fraction of split '{key}' must be in (0, 1], got {f}");
                fractions.Add((key, f));
            }
            else
            {
                string file = Path.GetFullPath(Path.Combine(baseDir, (v as YamlScalarNode)?.Value ?? throw r.Error(v, $"split '{key}' needs a list file")));
                if (!File.Exists(file)) throw r.Error(v, $"list file of split '{key}' not found: {file}");
                lists[key] = file;
            }
        }
        if (method == "hash")
        {
            if (fractions.Count == 0) throw r.Error(m, "hash splits need fractions, e.g. {train: 0.8, val: 0.2}");
            if (fractions.Sum(x => x.Fraction) > 1 + 1e-9) throw r.Error(m, $"split fractions add up to {fractions.Sum(x => x.Fraction)}, more than 1");
        }
        else if (lists.Count == 0) throw r.Error(m, "list splits need a file per split, e.g. {train: train.txt}");
        return new SplitSpec(method == "hash" ? SplitMethod.Hash : SplitMethod.Lists, seed, fractions, lists);
    }
}
