using HieraRS.Platform;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;
using Microsoft.Extensions.FileSystemGlobbing;

namespace HieraRS.Domain.Data;

/// <summary>
/// Opens the dataset a <see cref="DatasetSpec"/> describes. Every file-based kind is a set of
/// (image glob, label template, encoding) parts over the root; the fixed layouts only supply them:
/// <list type="bullet">
/// <item>gid-mtl: <c>&lt;set&gt;/image/&lt;scene&gt;/&lt;n&gt;.tif</c> with labels under <c>&lt;set&gt;/label</c>;
/// GID-MTL15 labels are GID-15 (L3), GID-MTL5 labels GID-5 (L2 only).</item>
/// <item>mm5b, crop10m, whdld: <c>img_dir/{split}</c> and <c>ann_dir/{split}</c>.</item>
/// </list>
/// A split named in the folder layout picks that folder; otherwise splits come from a seeded hash of
/// tile ids or from list files, and <c>all</c> takes every tile.
/// </summary>
public static class Datasets
{
    public const string AllSplit = "all";

    /// <summary>One (image glob, label template, encoding) part of a dataset.</summary>
    public sealed record Part(string Images, string? Labels, string Encoding);

    public static ISegmentationDataset Open(DatasetSpec spec, string? split = null)
    {
        split ??= spec.Split;
        var hierarchy = HierarchyLoader.Resolve(spec.Hierarchy.Length > 0 ? spec.Hierarchy : DefaultHierarchy(spec));
        if (spec.Levels > 0) hierarchy = hierarchy.Truncate(spec.Levels);
        if (spec.Type == "synthetic")
            return new SyntheticDataset(hierarchy, new SyntheticSceneOptions { Size = spec.Size, Bands = spec.Bands?.Length ?? 4 },
                spec.Count, spec.Seed + SplitSeed(split), $"synthetic:{split}", spec.Normalize);
        if (!Directory.Exists(spec.Root)) throw new DirectoryNotFoundException($"dataset root not found: {spec.Root}");
        var items = new List<TileItem>();
        foreach (var part in Parts(spec)) items.AddRange(Discover(spec.Root, part, split, spec.Splits));
        if (items.Count == 0) throw new InvalidDataException($"dataset '{spec.Type}' at {spec.Root}: no tiles in split '{split}'");
        var norm = spec.Normalize ?? DefaultNormalization(spec);
        return new TileDataset($"{spec.Type}:{split}", hierarchy, items, spec.Bands, norm, spec.NoData);
    }

    static ulong SplitSeed(string split) => split == "train" ? 0 : Hash(split, 0x5eed);

    static string DefaultHierarchy(DatasetSpec s) => s.Type switch
    {
        "gid-mtl" => "gid",
        "crop10m" => "crop10m",
        "whdld" => "whdld",
        "folder" => throw new ArgumentException("a 'folder' dataset needs 'hierarchy'"),
        _ => "mm5b",
    };

    static Normalization? DefaultNormalization(DatasetSpec s) => s.Type switch
    {
        "mm5b" when s.Source == "gf2" => Normalization.GaoFen2,
        "mm5b" when s.Source == "google" => Normalization.ImageNet,
        "mm5b" or "crop10m" => Normalization.Scale(1, 1e-4),
        "whdld" or "gid-mtl" => Normalization.ImageNet,
        _ => null,
    };

    /// <summary>The (image glob, label template, encoding) parts of a dataset kind.</summary>
    public static IReadOnlyList<Part> Parts(DatasetSpec s) => s.Type switch
    {
        "gid-mtl" => s.Sets.Select(set => new Part($"{set}/image/*/*.tif", $"{set}/label/{{parent}}/{{name}}",
            set == "GID-MTL5" ? "gid5" : s.Encoding)).ToList(),
        "mm5b" => [new Part("img_dir/{split}/*.tif", s.Source == "s2" ? "ann_dir/{split}/{stem}_18label.tif" : "ann_dir/{split}/{stem}.tif", s.Encoding)],
        "crop10m" => [new Part("img_dir/{split}/*.tif", "ann_dir/{split}/{stem}.tif", s.Encoding)],
        "whdld" => [new Part("img_dir/{split}/*.jpg", "ann_dir/{split}/{stem}.png", s.Encoding)],
        "folder" => [new Part(s.Images!, s.Labels, s.Encoding)],
        _ => throw new ArgumentException($"no file layout for dataset kind '{s.Type}'"),
    };

    /// <summary>
    /// The tiles of one part in one split: image files matching the glob (sorted), each paired with
    /// the label file its template names (an error when missing). Ids are image paths relative to the
    /// root without extension.
    /// </summary>
    public static List<TileItem> Discover(string root, Part part, string split, SplitSpec splits)
    {
        bool folderSplits = part.Images.Contains("{split}");
        var splitNames = !folderSplits ? [split]
            : split != AllSplit ? [split]
            : SplitFolders(root, part.Images);
        var items = new List<TileItem>();
        foreach (var name in splitNames)
        {
            string pattern = part.Images.Replace("{split}", name);
            int wild = pattern.IndexOfAny(['*', '?', '[']);
            string fixedPart = wild < 0 ? pattern : pattern[..(pattern.LastIndexOf('/', wild) + 1)];
            string baseDir = Path.Combine(root, fixedPart);
            if (!Directory.Exists(baseDir))
                throw new DirectoryNotFoundException($"{root}: no folder '{fixedPart}' for split '{name}' (pattern '{part.Images}')");
            var matcher = new Matcher(StringComparison.Ordinal);
            matcher.AddInclude(pattern[fixedPart.Length..]);
            foreach (var rel in matcher.GetResultsInFullPath(baseDir).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal))
            {
                string image = Path.Combine(root, rel);
                string id = Path.ChangeExtension(rel, null).Replace('\\', '/');
                string? label = null;
                if (part.Labels is { } t)
                {
                    label = Path.Combine(root, t.Replace("{split}", name).Replace("{stem}", Path.GetFileNameWithoutExtension(rel))
                        .Replace("{name}", Path.GetFileName(rel)).Replace("{parent}", Path.GetFileName(Path.GetDirectoryName(rel)) ?? "")
                        .Replace("{rel}", Path.ChangeExtension(Path.GetRelativePath(fixedPart, rel), null)));
                    if (!File.Exists(label)) throw new FileNotFoundException($"{image}: its label file {label} is missing", label);
                }
                items.Add(new TileItem(id, image, label, part.Encoding));
            }
        }
        return folderSplits || split == AllSplit ? items : SelectSplit(items, split, splits);
    }

    static string[] SplitFolders(string root, string images)
    {
        string before = images[..images.IndexOf("{split}", StringComparison.Ordinal)];
        string dir = Path.Combine(root, before);
        return Directory.Exists(dir) ? Directory.GetDirectories(dir).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal).ToArray() : [];
    }

    /// <summary>The tiles of a named split: by list file (entries are ids or id suffixes, e.g. <c>lake/12</c>) or by seeded hash.</summary>
    public static List<TileItem> SelectSplit(List<TileItem> items, string split, SplitSpec spec)
    {
        if (spec.Method == SplitMethod.Lists)
        {
            if (!spec.Lists.TryGetValue(split, out var file))
                throw new ArgumentException($"no list file for split '{split}' (splits: {string.Join(", ", spec.Lists.Keys)}, all)");
            var chosen = new HashSet<TileItem>();
            int line = 0;
            InputFile.Check(file, "list file");
            foreach (var raw in File.ReadLines(file))
            {
                line++;
                string entry = raw.Trim();
                if (entry.Length == 0 || entry.StartsWith('#')) continue;
                entry = Path.ChangeExtension(entry, null)!.Replace('\\', '/');
                var hits = items.Where(i => i.Id == entry || i.Id.EndsWith("/" + entry, StringComparison.Ordinal)).ToList();
                if (hits.Count == 0) throw new InvalidDataException($"{file}:{line}: no tile '{raw.Trim()}' in the dataset");
                chosen.UnionWith(hits);
            }
            return items.Where(chosen.Contains).ToList();
        }
        if (!spec.Fractions.Any(f => f.Name == split))
            throw new ArgumentException($"unknown split '{split}' (splits: {string.Join(", ", spec.Fractions.Select(f => f.Name))}, all)");
        // cumulative fractions in the order given; a tile's place in [0, 1) depends only on its id and the seed
        double lo = 0;
        foreach (var (name, f) in spec.Fractions)
        {
            if (name == split) break;
            lo += f;
        }
        double hi = lo + spec.Fractions.First(f => f.Name == split).Fraction;
        return items.Where(i =>
        {
            double u = (Hash(i.Id, spec.Seed) >> 11) * (1.0 / (1UL << 53));
            return u >= lo && u < hi;
        }).ToList();
    }

    /// <summary>FNV-1a of the UTF-16 text, then a SplitMix finaliser with the seed: stable across runs and platforms.</summary>
    public static ulong Hash(string text, ulong seed)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in text) { h ^= c; h *= 1099511628211UL; }
        h ^= seed * 0x9E3779B97F4A7C15UL;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }
}
