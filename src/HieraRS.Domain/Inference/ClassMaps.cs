using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Visual;
using HieraRS.Geo;

namespace HieraRS.Domain.Inference;

/// <summary>Per-level class maps as a georeferenced GeoTIFF (one byte band per level, colour tables, descriptions) and PNG quick-looks.</summary>
public static class ClassMaps
{
    /// <summary>No class (nodata) in written maps.</summary>
    public const byte NoData = 255;

    /// <summary>
    /// One GeoTIFF with a band per level (descriptions name the levels; what <c>hierars score</c>
    /// reads). TIFF keeps colour tables only in single-band files, so see <see cref="WriteLevelGeoTiffs"/> for coloured maps.
    /// </summary>
    public static void WriteGeoTiff(string path, ClassHierarchy tree, byte[][] levels, int width, int height,
        double[]? geoTransform, string projection, GeoTiffOptions? options = null)
    {
        using var w = RasterWriter.Create(path, width, height, levels.Length, RasterType.Byte, options);
        if (geoTransform is not null) w.SetGeoTransform(geoTransform);
        w.SetProjection(projection);
        w.SetNoData(NoData);
        for (int l = 0; l < levels.Length; l++)
        {
            w.SetDescription(l + 1, $"level {l + 1}: {tree.Levels[l].Name} ({tree.Name})");
            w.Write(0, 0, width, height, [l + 1], levels[l]);
        }
        w.Commit();
    }

    /// <summary>A single-band GeoTIFF per level, <c>{stem}_L{k}.tif</c>, with the level's colour table: a GIS shows it in the tree's colours.</summary>
    public static IReadOnlyList<string> WriteLevelGeoTiffs(string dir, string stem, ClassHierarchy tree, byte[][] levels, int width, int height,
        double[]? geoTransform, string projection, GeoTiffOptions? options = null)
    {
        var paths = new List<string>();
        for (int l = 0; l < levels.Length; l++)
        {
            string p = Path.Combine(dir, $"{stem}_L{l + 1}.tif");
            using var w = RasterWriter.Create(p, width, height, 1, RasterType.Byte, options);
            if (geoTransform is not null) w.SetGeoTransform(geoTransform);
            w.SetProjection(projection);
            w.SetNoData(NoData);
            var lv = tree.Levels[l];
            w.SetDescription(1, $"level {l + 1}: {lv.Name} ({tree.Name})");
            w.SetColorTable(1, lv.Classes.Select(c => (c.R, c.G, c.B)).ToList());
            w.Write(0, 0, width, height, [1], levels[l]);
            w.Commit();
            paths.Add(p);
        }
        return paths;
    }

    /// <summary>One PNG per level with a legend; returns the paths.</summary>
    public static IReadOnlyList<string> WriteQuickLooks(string dir, string stem, ClassHierarchy tree, byte[][] levels, int width, int height, string title)
    {
        var paths = new List<string>();
        for (int l = 0; l < levels.Length; l++)
        {
            string p = Path.Combine(dir, $"{stem}_L{l + 1}.png");
            QuickLook.ClassMap(levels[l], width, height, tree.Levels[l], $"{title} level {l + 1} ({tree.Levels[l].Name})").SavePng(p);
            paths.Add(p);
        }
        return paths;
    }
}
