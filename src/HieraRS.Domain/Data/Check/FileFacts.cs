using HieraRS.Geo;

namespace HieraRS.Domain.Data.Check;

/// <summary>
/// What a scan of one raster found, independent of any tree or config (so a cached scan serves every
/// check): its size and bands, or why it cannot be read; for a label file, how many pixels hold each
/// value of band 1 and where each value first occurs, or the first value that is no class value at all.
/// </summary>
public sealed record FileFacts
{
    public int Width { get; init; }
    public int Height { get; init; }
    public int Bands { get; init; }
    /// <summary>GDAL's message when the file cannot be opened or read.</summary>
    public string? Unreadable { get; init; }
    /// <summary>Label files: value -> [pixels, row, column of the first].</summary>
    public Dictionary<int, long[]>? Values { get; init; }
    /// <summary>Label files: the first value that is not an integer in 0..255, described with its place.</summary>
    public string? NotAClassValue { get; init; }

    public static FileFacts OfImage(string path) => Guarded(path, () =>
    {
        using var r = Raster.Open(path);
        return new FileFacts { Width = r.Width, Height = r.Height, Bands = r.BandCount };
    });

    /// <summary>Band 1 read window by window along its blocks (memory bounded for files of any size).</summary>
    public static FileFacts OfLabels(string path) => Guarded(path, () =>
    {
        using var r = Raster.Open(path);
        var facts = new FileFacts { Width = r.Width, Height = r.Height, Bands = r.BandCount, Values = [] };
        if (r.BandCount == 0) return facts;
        try
        {
            foreach (var (x, y, w, h) in r.BlockWindows(Math.Max(1, 1024 / Math.Max(1, r.BlockSize.Height))))
            {
                var v = LabelFiles.Read(r, 1, x, y, w, h);
                for (int i = 0; i < v.Length; i++)
                {
                    if (!facts.Values.TryGetValue(v[i], out var seen)) facts.Values[v[i]] = seen = [0, y + i / w, x + i % w];
                    seen[0]++;
                }
            }
        }
        catch (InvalidDataException e) { return facts with { NotAClassValue = WithoutPath(path, e.Message) }; }
        return facts;
    });

    static FileFacts Guarded(string path, Func<FileFacts> scan)
    {
        try { return scan(); }
        catch (Exception e) when (e is GdalException or FileNotFoundException) { return new FileFacts { Unreadable = WithoutPath(path, e.Message) }; }
    }

    /// <summary>Messages name the file first; a problem list names it once.</summary>
    static string WithoutPath(string path, string message) => message.StartsWith(path + ": ", StringComparison.Ordinal) ? message[(path.Length + 2)..] : message;
}
