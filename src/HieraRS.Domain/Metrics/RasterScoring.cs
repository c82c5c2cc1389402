using HieraRS.Platform;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Geo;
using HieraRS.Tensors;

namespace HieraRS.Domain.Metrics;

/// <summary>What <see cref="RasterScoring.Score"/> measured: the metrics, the file pairs, and labelled pixels left without a prediction.</summary>
public sealed record ScoreResult(HierarchicalMetrics Metrics, IReadOnlyList<(string Prediction, string Truth)> Pairs, long[] Unpredicted);

/// <summary>
/// Scores prediction rasters made by any tool against truth rasters, window by window along the
/// truth's blocks (memory bounded for scenes of any size). A prediction holds one band per level
/// (class ids of that level; bands after those, such as confidences, are ignored) or one band of the
/// finest level, mapped upward; 255 (or the band's
/// nodata) means "no prediction": such labelled pixels are counted apart and left out of the scores.
/// Truth files are decoded through the hierarchy's label encoding and derived to every level.
/// </summary>
public static class RasterScoring
{

    /// <summary>Pairs a prediction and truth file, or every raster under a truth folder with the prediction of the same relative path (any raster extension).</summary>
    public static List<(string Prediction, string Truth)> Pair(string prediction, string truth)
    {
        if (File.Exists(truth))
            return File.Exists(prediction) ? [(prediction, truth)] : throw new FileNotFoundException($"prediction file not found: {prediction}", prediction);
        if (!Directory.Exists(truth)) throw new FileNotFoundException($"truth not found: {truth}", truth);
        if (!Directory.Exists(prediction)) throw new DirectoryNotFoundException($"truth is a folder, so the prediction must be one too: {prediction}");
        var pairs = new List<(string, string)>();
        foreach (var t in Directory.EnumerateFiles(truth, "*", SearchOption.AllDirectories).Where(Raster.IsRasterFile).Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(truth, t);
            string stem = Path.Combine(prediction, Path.ChangeExtension(rel, null));
            string? p = File.Exists(Path.Combine(prediction, rel)) ? Path.Combine(prediction, rel)
                : Raster.Extensions.Select(e => stem + e).FirstOrDefault(File.Exists);
            pairs.Add((p ?? throw new FileNotFoundException($"no prediction for {t} (looked for {stem}.*)", stem), t));
        }
        return pairs.Count > 0 ? pairs : throw new FileNotFoundException($"no rasters under {truth}");
    }


    /// <param name="truthEncoding">label encoding of the truth files (null: the hierarchy's default).</param>
    /// <param name="ignoreGeoreference">score pairs whose geotransform or CRS differ (refused otherwise: they would compare different ground).</param>
    public static ScoreResult Score(ClassHierarchy tree, string prediction, string truth, string? truthEncoding = null, Action<long, long>? progress = null,
        bool ignoreGeoreference = false)
    {
        var pairs = Pair(prediction, truth);
        var metrics = new HierarchicalMetrics(tree);
        var unpredicted = new long[tree.Depth];
        var encoding = tree.GetEncoding(truthEncoding);
        var table = encoding.ByteTable();
        var upward = tree.UpwardMaps();
        long totalPx = 0, donePx = 0;
        foreach (var (p, t) in pairs) totalPx += CheckPair(tree, p, t, ignoreGeoreference);
        foreach (var (p, t) in pairs)
        {
            using var tr = Raster.Open(t);
            using var pr = Raster.Open(p);
            foreach (var (x, y, w, h) in tr.BlockWindows(Math.Max(1, 1024 / Math.Max(1, tr.BlockSize.Height))))
            {
                int n = w * h;
                var truthLevels = Enumerable.Range(0, tree.Depth).Select(_ => new byte[n]).ToArray();
                LabelFiles.ToLevels(tree, encoding, table, LabelFiles.Read(tr, 1, x, y, w, h), w, t, truthLevels);
                var pred = ReadPrediction(tree, pr, upward, x, y, w, h);
                for (int l = 0; l < tree.Depth; l++)
                    for (int i = 0; i < n; i++)
                        if (pred[l][i] == ClassHierarchy.NoClass && truthLevels[l][i] != ClassHierarchy.NoClass)
                        {
                            unpredicted[l]++;
                            truthLevels[l][i] = ClassHierarchy.NoClass;
                        }
                metrics.Add(truthLevels, pred);
                progress?.Invoke(donePx += n, totalPx);
            }
        }
        return new ScoreResult(metrics, pairs, unpredicted);
    }

    /// <summary>Size, bands and georeference of a pair checked before any scoring; its pixel count.</summary>
    static long CheckPair(ClassHierarchy tree, string p, string t, bool ignoreGeoreference)
    {
        using var tr = Raster.Open(t);
        using var pr = Raster.Open(p);
        if (pr.Width != tr.Width || pr.Height != tr.Height)
            throw new InvalidDataException($"{p}: prediction is {pr.Width} x {pr.Height} but the truth {t} is {tr.Width} x {tr.Height}");
        if (pr.BandCount != 1 && pr.BandCount < tree.Depth)
            throw new InvalidDataException($"{p}: {Plural.Of(pr.BandCount, "band")}; a prediction holds one band per level ({tree.Depth}, further bands such as confidences are ignored) or one band of the finest level");
        if (!ignoreGeoreference && Georeference.Differences(pr, tr) is { Count: > 0 } diff)
            throw new InvalidDataException($"{p}: not on the ground grid of the truth {t}: {string.Join("; ", diff)} (prediction vs truth; --ignore-georef scores it anyway)");
        return (long)tr.Width * tr.Height;
    }

    static byte[][] ReadPrediction(ClassHierarchy tree, Raster pr, byte[][] upward, int x, int y, int w, int h)
    {
        int n = w * h;
        if (pr.BandCount >= tree.Depth && tree.Depth > 1)
            return Enumerable.Range(0, tree.Depth).Select(l => Check(LabelFiles.Read(pr, l + 1, x, y, w, h), tree, l, pr, l + 1, x, y, w)).ToArray();
        var finest = Check(LabelFiles.Read(pr, 1, x, y, w, h), tree, tree.Depth - 1, pr, 1, x, y, w);
        return Enumerable.Range(0, tree.Depth).Select(l =>
        {
            var m = new byte[n];
            for (int i = 0; i < n; i++) m[i] = upward[l][finest[i]];
            return m;
        }).ToArray();
    }

    /// <summary>Class ids must fit the level; 255 and the band's nodata mean no prediction.</summary>
    static byte[] Check(byte[] v, ClassHierarchy tree, int level, Raster pr, int band, int x, int y, int w)
    {
        int classes = tree.Levels[level].Count;
        double? nd = pr.NoData[band - 1];
        for (int i = 0; i < v.Length; i++)
        {
            if (nd is { } d && v[i] == d) { v[i] = ClassHierarchy.NoClass; continue; }
            if (v[i] >= classes && v[i] != ClassHierarchy.NoClass)
                throw new InvalidDataException($"{pr.Path}: band {band} value {v[i]} at row {y + i / w}, column {x + i % w} is not a class id of level {level + 1} ({tree.Levels[level].Name}: 0..{classes - 1}; 255 = no prediction)");
        }
        return v;
    }
}
