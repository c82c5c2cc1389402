using HieraRS.Domain.Hierarchies;

namespace HieraRS.Domain.Data;

/// <summary>
/// One training or evaluation sample: the image (band-sequential, raw values until the loader
/// normalises it), the labels of every level (NoClass where unlabelled, including the finer levels
/// of a coarse-only label), the valid-pixel mask (0 where the image holds nodata), and where it came from.
/// </summary>
public sealed class Sample(string id, int bands, int height, int width, float[] image, byte[][] labels, byte[] valid)
{
    public string Id { get; } = id;
    public int Bands { get; } = bands;
    public int Height { get; } = height;
    public int Width { get; } = width;
    /// <summary>[band][row][col].</summary>
    public float[] Image { get; } = image;
    /// <summary>[level][row * width + col].</summary>
    public byte[][] Labels { get; } = labels;
    /// <summary>[row * width + col]: 1 where the pixel holds data.</summary>
    public byte[] Valid { get; } = valid;
    /// <summary>Finest level the labels carry (levels below it are all NoClass).</summary>
    public int LabelLevel { get; init; }
    public string ImagePath { get; init; } = "";
    public string? LabelPath { get; init; }
    /// <summary>GDAL geotransform of the image, when it has one (synthetic scenes and GeoTIFFs).</summary>
    public double[]? GeoTransform { get; init; }
    public string Projection { get; init; } = "";

    public int Pixels => Height * Width;

    /// <summary>Sets every level's label to NoClass wherever the image holds no data.</summary>
    public void IgnoreInvalid()
    {
        for (int i = 0; i < Valid.Length; i++)
            if (Valid[i] == 0)
                foreach (var l in Labels) l[i] = ClassHierarchy.NoClass;
    }
}

/// <summary>A list of samples with a class tree: every dataset kind (tiles in folders, synthetic scenes) looks like this.</summary>
public interface ISegmentationDataset
{
    string Name { get; }
    ClassHierarchy Hierarchy { get; }
    int Bands { get; }
    /// <summary>How images are normalised (per band), from the config or the dataset kind's default.</summary>
    Normalization Normalization { get; }
    int Count { get; }
    /// <summary>The id of sample <paramref name="index"/> without loading it.</summary>
    string Id(int index);
    /// <summary>Loads sample <paramref name="index"/>; safe to call from several threads at once.</summary>
    Sample Load(int index);
}

/// <summary>Every <paramref name="step"/>-th sample of a dataset from <paramref name="first"/> on: one process's part of a pass shared by several.</summary>
public sealed class DatasetPart(ISegmentationDataset inner, int first, int step) : ISegmentationDataset
{
    public string Name => inner.Name;
    public ClassHierarchy Hierarchy => inner.Hierarchy;
    public int Bands => inner.Bands;
    public Normalization Normalization => inner.Normalization;
    public int Count { get; } = first < 0 || step < 1 || first >= step ? throw new ArgumentOutOfRangeException(nameof(first), $"part {first} of {step}")
        : Math.Max(0, (inner.Count - first + step - 1) / step);
    public string Id(int index) => inner.Id(first + index * step);
    public Sample Load(int index) => inner.Load(first + index * step);
}
