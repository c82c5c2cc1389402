using HieraRS.Platform;
using HieraRS.Domain.Hierarchies;
using HieraRS.Geo;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data;

/// <summary>One image file, its label file (null when unlabelled) and the encoding the label file uses.</summary>
public sealed record TileItem(string Id, string ImagePath, string? LabelPath, string Encoding);

/// <summary>
/// Image / label file pairs read through GDAL: any band selection and type, labels decoded through
/// the hierarchy's encoding and derived to every level (a coarse-only encoding leaves the finer
/// levels NoClass), nodata pixels masked out of the labels.
/// </summary>
public sealed class TileDataset : ISegmentationDataset
{
    readonly IReadOnlyList<TileItem> items;
    readonly int[] bands;
    readonly double? noData;
    readonly Dictionary<string, short[]> tables;

    public string Name { get; }
    public ClassHierarchy Hierarchy { get; }
    public int Bands => bands.Length;
    public Normalization Normalization { get; }
    public int Count => items.Count;
    public IReadOnlyList<TileItem> Items => items;
    /// <summary>The 1-based bands read from every image, in order.</summary>
    public IReadOnlyList<int> BandNumbers => bands;

    /// <param name="bands">1-based bands to read, null for every band of the first image.</param>
    /// <param name="normalization">null: identity; a one-band scale is widened to every band.</param>
    public TileDataset(string name, ClassHierarchy hierarchy, IReadOnlyList<TileItem> items, int[]? bands = null,
        Normalization? normalization = null, double? noData = null)
    {
        if (items.Count == 0) throw new ArgumentException($"dataset '{name}' has no tiles");
        Name = name; Hierarchy = hierarchy; this.items = items; this.noData = noData;
        if (bands is null)
        {
            using var first = Raster.Open(items[0].ImagePath);
            bands = Enumerable.Range(1, first.BandCount).ToArray();
        }
        this.bands = bands;
        if (normalization is { Bands: 1 } one && bands.Length > 1 && one.Mean[0] == 0)
            normalization = new Normalization(new float[bands.Length], Enumerable.Repeat(one.Std[0], bands.Length).ToArray());
        Normalization = (normalization ?? Normalization.Identity(bands.Length)).Validate(bands.Length, $"dataset '{name}'");
        tables = items.Select(i => i.Encoding).Distinct().ToDictionary(e => e, e => hierarchy.GetEncoding(e).ByteTable());
    }

    public string Id(int index) => items[index].Id;

    public Sample Load(int index)
    {
        var item = items[index];
        using var img = Raster.Open(item.ImagePath);
        foreach (var b in bands)
            if (b > img.BandCount)
                throw new InvalidDataException($"{item.ImagePath}: has {Plural.Of(img.BandCount, "band")}, the dataset reads band {b}");
        int w = img.Width, h = img.Height, n = w * h;
        var image = new float[bands.Length * n];
        img.Read(0, 0, w, h, bands, image);
        var valid = ValidMask(image, n, bands.Select(b => noData ?? img.NoData[b - 1]).ToArray());

        var encoding = Hierarchy.GetEncoding(item.Encoding);
        var labels = new byte[Hierarchy.Depth][];
        for (int l = 0; l < labels.Length; l++) labels[l] = new byte[n];
        if (item.LabelPath is { } lp)
        {
            var (stored, lw, lh) = LabelFiles.Read(lp);
            if (lw != w || lh != h)
                throw new InvalidDataException($"{lp}: labels are {lw} x {lh} but the image {item.ImagePath} is {w} x {h}");
            LabelFiles.ToLevels(Hierarchy, encoding, tables[item.Encoding], stored, w, lp, labels);
        }
        else foreach (var l in labels) l.AsSpan().Fill(ClassHierarchy.NoClass);
        var sample = new Sample(item.Id, bands.Length, h, w, image, labels, valid)
        {
            LabelLevel = encoding.Level, ImagePath = item.ImagePath, LabelPath = item.LabelPath,
            GeoTransform = img.GeoTransform, Projection = img.Projection,
        };
        sample.IgnoreInvalid();
        return sample;
    }

    /// <summary>
    /// 1 where the pixel holds data. As GDAL's dataset mask: a pixel is nodata when every band with a
    /// nodata value holds it; a NaN in any band is always invalid (it would poison the loss).
    /// </summary>
    public static byte[] ValidMask(ReadOnlySpan<float> image, int pixels, double?[] noData)
    {
        var valid = new byte[pixels];
        valid.AsSpan().Fill(1);
        int bandsWithNoData = noData.Count(v => v is not null);
        for (int i = 0; i < pixels; i++)
        {
            int hits = 0;
            for (int b = 0; b < noData.Length; b++)
            {
                float v = image[b * pixels + i];
                if (float.IsNaN(v)) { hits = -1; break; }
                if (noData[b] is { } nd && (v == (float)nd || double.IsNaN(nd) && float.IsNaN(v))) hits++;
            }
            if (hits < 0 || bandsWithNoData > 0 && hits == bandsWithNoData) valid[i] = 0;
        }
        return valid;
    }
}
