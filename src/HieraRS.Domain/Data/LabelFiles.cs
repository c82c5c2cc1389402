using HieraRS.Domain.Hierarchies;
using HieraRS.Geo;

namespace HieraRS.Domain.Data;

/// <summary>Label rasters: band 1 read as class values, decoded through an encoding and derived to every level.</summary>
public static class LabelFiles
{
    /// <summary>Band <paramref name="band"/> as bytes; values that are not integers in 0..255 are errors naming the pixel.</summary>
    public static (byte[] Values, int Width, int Height) Read(string path, int band = 1)
    {
        using var lab = Raster.Open(path);
        return Read(lab, band);
    }

    public static (byte[] Values, int Width, int Height) Read(Raster lab, int band) =>
        (Read(lab, band, 0, 0, lab.Width, lab.Height), lab.Width, lab.Height);

    /// <summary>One window of a band as bytes (errors name the pixel in raster coordinates).</summary>
    public static byte[] Read(Raster lab, int band, int x, int y, int w, int h)
    {
        var bytes = new byte[w * h];
        if (lab.BandTypes[band - 1] == RasterType.Byte) { lab.Read(x, y, w, h, [band], bytes); return bytes; }
        var values = new float[w * h];
        lab.Read(x, y, w, h, [band], values);
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!(v >= 0 && v <= 255 && v == MathF.Floor(v)))
                throw new InvalidDataException($"{lab.Path}: band {band} value {v} at row {y + i / w}, column {x + i % w} is not a class value (0..255)");
            bytes[i] = (byte)v;
        }
        return bytes;
    }

    /// <summary>Stored values through the encoding (table from <see cref="LabelEncoding.ByteTable"/>), then every level derived; finer levels than the encoding's are NoClass.</summary>
    public static void ToLevels(ClassHierarchy tree, LabelEncoding encoding, ReadOnlySpan<short> table, ReadOnlySpan<byte> stored, int width, string source, byte[][] levels)
    {
        var classes = new byte[stored.Length];
        ClassHierarchy.Decode(stored, classes, table, source, width);
        tree.DeriveLevels(classes, encoding.Level, levels);
    }
}
