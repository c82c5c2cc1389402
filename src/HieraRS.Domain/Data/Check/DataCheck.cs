using HieraRS.Platform;
using System.Collections.Concurrent;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data.Check;

/// <summary>One thing wrong with one file.</summary>
public sealed record DataProblem(string File, string Message)
{
    public override string ToString() => $"{File}: {Message}";
}

/// <summary>What a check of one dataset found: its tiles, the files scanned (and how many of them came from the cache), and the problems.</summary>
public sealed record DataCheckResult(string Dataset, int Tiles, int Files, int Cached, IReadOnlyList<DataProblem> Problems);

/// <summary>
/// Checks every tile of a dataset before any work starts: image and label files readable, the bands
/// the dataset reads present, labels the size of their image, and every label value a class value of
/// the tile's encoding. Scans are cached (<see cref="FactCache"/>) so a rerun on unchanged files is quick;
/// every problem is reported at once, in tile order.
/// </summary>
public static class DataCheck
{
    /// <summary>Checks one dataset (generated datasets have no files and always pass).</summary>
    public static DataCheckResult Run(ISegmentationDataset data, string? cacheFolder = null, Action<int, int>? progress = null)
    {
        if (data is not TileDataset tiles) return new DataCheckResult(data.Name, data.Count, 0, 0, []);
        var cache = FactCache.Open(CommonFolder(tiles.Items), cacheFolder);
        var found = new ConcurrentDictionary<int, List<DataProblem>>();
        int done = 0;
        Parallel.For(0, tiles.Count, new ParallelOptions { MaxDegreeOfParallelism = Engine.Threads }, i =>
        {
            if (CheckTile(tiles, tiles.Items[i], cache) is { Count: > 0 } p) found[i] = p;
            progress?.Invoke(Interlocked.Increment(ref done), tiles.Count);
        });
        cache.Save();
        int files = tiles.Items.Sum(i => i.LabelPath is null ? 1 : 2);
        return new DataCheckResult(tiles.Name, tiles.Count, files, cache.Hits, found.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value).ToList());
    }

    /// <summary>Checks the datasets and throws one <see cref="InvalidDataException"/> listing every problem of all of them.</summary>
    /// <param name="progress">a progress callback per dataset (tiles done, tiles), or null.</param>
    public static IReadOnlyList<DataCheckResult> Require(IEnumerable<ISegmentationDataset?> datasets, string? cacheFolder = null,
        Func<ISegmentationDataset, Action<int, int>?>? progress = null)
    {
        var results = datasets.OfType<ISegmentationDataset>().Select(d => Run(d, cacheFolder, progress?.Invoke(d))).ToList();
        var problems = results.SelectMany(r => r.Problems).Distinct().ToList();
        if (problems.Count > 0)
        {
            int files = problems.Select(p => p.File).Distinct().Count();
            throw new InvalidDataException($"{Plural.Of(files, "file")} of {string.Join(" and ", results.Select(r => r.Dataset))} " +
                $"{(files == 1 ? "has" : "have")} problems:\n  {string.Join("\n  ", problems)}");
        }
        return results;
    }

    static List<DataProblem> CheckTile(TileDataset data, TileItem item, FactCache cache)
    {
        var found = new List<DataProblem>();
        var image = cache.Get(item.ImagePath, FileFacts.OfImage);
        if (image.Unreadable is { } u) found.Add(new DataProblem(item.ImagePath, $"cannot be read: {u}"));
        else if (data.BandNumbers.Max() is var band && band > image.Bands)
            found.Add(new DataProblem(item.ImagePath, $"has {Plural.Of(image.Bands, "band")}, the dataset reads band {band}"));
        if (item.LabelPath is not { } lp) return found;
        var labels = cache.Get(lp, FileFacts.OfLabels);
        if (labels.Unreadable is { } lu) { found.Add(new DataProblem(lp, $"cannot be read: {lu}")); return found; }
        if (image.Unreadable is null && (labels.Width != image.Width || labels.Height != image.Height))
            found.Add(new DataProblem(lp, $"labels are {labels.Width} x {labels.Height} but the image {item.ImagePath} is {image.Width} x {image.Height}"));
        if (labels.NotAClassValue is { } bad) found.Add(new DataProblem(lp, bad));
        var encoding = data.Hierarchy.GetEncoding(item.Encoding);
        var table = encoding.ByteTable();
        var unknown = labels.Values!.Where(kv => table[kv.Key] < 0).OrderBy(kv => kv.Key)
            .Select(kv => $"{kv.Key} ({Plural.Of(kv.Value[0], "pixel", grouped: true)}, first at row {kv.Value[1]}, column {kv.Value[2]})").ToList();
        if (unknown.Count > 0)
            found.Add(new DataProblem(lp, $"band 1 holds {(unknown.Count == 1 ? "a value" : "values")} outside the label encoding '{encoding.Name}' " +
                $"of hierarchy '{data.Hierarchy.Name}': {string.Join(", ", unknown)}"));
        return found;
    }

    /// <summary>The deepest folder holding every file of the dataset (names its cache).</summary>
    static string CommonFolder(IReadOnlyList<TileItem> items)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(items[0].ImagePath))!;
        foreach (var f in items.SelectMany(i => i.LabelPath is null ? [i.ImagePath] : new[] { i.ImagePath, i.LabelPath }))
            while (!Path.GetFullPath(f).StartsWith(dir.TrimEnd('/') + "/", StringComparison.Ordinal) && Path.GetDirectoryName(dir) is { } up) dir = up;
        return dir;
    }
}
