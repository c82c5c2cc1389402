using HieraRS.Platform;
using System.Globalization;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data;

/// <summary>
/// Per-band normalisation x' = (x - mean) / std; a plain scale s (Sentinel-2's 1/10000) is mean 0,
/// std 1/s. Stored with checkpoints, so prediction normalises exactly as training did.
/// </summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    public int Bands => Mean.Length;

    public static Normalization Identity(int bands) => new(new float[bands], Enumerable.Repeat(1f, bands).ToArray());

    public static Normalization Scale(int bands, double scale) =>
        scale > 0 && double.IsFinite(scale) ? new(new float[bands], Enumerable.Repeat((float)(1.0 / scale), bands).ToArray())
            : throw new ArgumentException($"normalisation scale must be a positive number, got {scale}");

    /// <summary>ImageNet statistics in 0..255 units, for RGB imagery (Google Earth, WHDLD).</summary>
    public static Normalization ImageNet { get; } = new([123.675f, 116.28f, 103.53f], [58.395f, 57.12f, 57.375f]);

    /// <summary>GaoFen-2 4-band statistics of MM-5B (raw DN), method.md §6.</summary>
    public static Normalization GaoFen2 { get; } = new([412.626f, 317.669f, 243.747f, 292.615f], [42.796f, 45.591f, 54.943f, 69.321f]);

    /// <summary>Normalises [band][pixel] in place; pixels that hold no data become 0 (the mean).</summary>
    public void Apply(Span<float> image, int pixels, ReadOnlySpan<byte> valid)
    {
        if (image.Length != Bands * pixels)
            throw new ArgumentException($"normalisation is for {Plural.Of(Bands, "band")}, the image has {image.Length / Math.Max(pixels, 1)}");
        for (int b = 0; b < Bands; b++)
        {
            var band = image.Slice(b * pixels, pixels);
            float inv = 1f / Std[b];
            SpanMath.ScaleShift(band, inv, -Mean[b] * inv, band);
            for (int i = 0; i < pixels; i++)
                if (valid[i] == 0) band[i] = 0f;
        }
    }

    /// <summary>Checks the values are usable (positive finite std) and fit the band count.</summary>
    public Normalization Validate(int bands, string where)
    {
        if (Mean.Length != Std.Length) throw new ArgumentException($"{where}: normalisation has {Mean.Length} means but {Std.Length} stds");
        if (Mean.Length != bands) throw new ArgumentException($"{where}: normalisation has {Plural.Of(Mean.Length, "band")} but the data has {bands}");
        for (int b = 0; b < bands; b++)
            if (!(Std[b] > 0) || !float.IsFinite(Std[b]) || !float.IsFinite(Mean[b]))
                throw new ArgumentException($"{where}: band {b + 1} has mean {Mean[b]}, std {Std[b]} (std must be positive and finite)");
        return this;
    }

    public override string ToString() =>
        $"mean [{string.Join(", ", Mean.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)))}], " +
        $"std [{string.Join(", ", Std.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)))}]";
}
