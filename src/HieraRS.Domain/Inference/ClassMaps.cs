using System.Xml.Linq;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Visual;
using HieraRS.Geo;
using HieraRS.Platform;
using HieraRS.Tensors;

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

    /// <summary>
    /// A VRT over the first <paramref name="levels"/>.Length bands of <paramref name="tif"/> (one per level,
    /// as <see cref="WriteGeoTiff"/> and <c>hierars predict</c> write them) that gives each band its level's
    /// colour table and class names: TIFF keeps a colour table for single-band files only, a VRT for every
    /// band, so a GIS opens the VRT in the tree's colours without a copy of the data.
    /// </summary>
    public static void WriteColourVrt(string vrt, string tif, ClassHierarchy tree, IReadOnlyList<int> levels, int width, int height,
        double[]? geoTransform, string projection)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string dir = Path.GetDirectoryName(Path.GetFullPath(vrt))!, full = Path.GetFullPath(tif);
        string rel = Path.GetRelativePath(dir, full);
        bool relative = !Path.IsPathRooted(rel);
        var root = new XElement("VRTDataset", new XAttribute("rasterXSize", width), new XAttribute("rasterYSize", height));
        if (projection.Length > 0) root.Add(new XElement("SRS", projection));
        if (geoTransform is not null) root.Add(new XElement("GeoTransform", string.Join(", ", geoTransform.Select(v => v.ToString("R", inv)))));
        for (int k = 0; k < levels.Count; k++)
        {
            var lv = tree.Levels[levels[k]];
            root.Add(new XElement("VRTRasterBand", new XAttribute("dataType", "Byte"), new XAttribute("band", k + 1),
                new XElement("Description", $"level {levels[k] + 1}: {lv.Name} ({tree.Name})"),
                new XElement("NoDataValue", NoData),
                new XElement("ColorInterp", "Palette"),
                new XElement("CategoryNames", lv.Classes.Select(c => new XElement("Category", c.Name))),
                new XElement("ColorTable", lv.Classes.Select(c => new XElement("Entry",
                    new XAttribute("c1", c.R), new XAttribute("c2", c.G), new XAttribute("c3", c.B), new XAttribute("c4", 255)))),
                new XElement("SimpleSource",
                    new XElement("SourceFilename", new XAttribute("relativeToVRT", relative ? 1 : 0), relative ? rel.Replace('\\', '/') : full),
                    new XElement("SourceBand", k + 1))));
        }
        AtomicFile.WriteAllText(vrt, root.ToString() + "\n");
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
