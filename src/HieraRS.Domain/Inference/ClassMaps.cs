using System.Xml.Linq;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Visual;
using HieraRS.Geo;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>Per-level class maps: the colour VRT beside a predicted map, reading a map back, and PNG quick-looks.</summary>
public static class ClassMaps
{
    /// <summary>A single-band class map's colour table and class names (GDAL category names) from its level.</summary>
    public static void SetClasses(RasterWriter w, int band, HierarchyLevel level)
    {
        w.SetColorTable(band, level.Classes.Select(c => (c.R, c.G, c.B)).ToList());
        w.SetCategoryNames(band, level.Classes.Select(c => c.Name).ToList());
    }

    /// <summary>
    /// A VRT over the first <paramref name="levels"/>.Length bands of <paramref name="tif"/> (one per level,
    /// as <c>hierars predict</c> writes them) that gives each band its level's
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
                new XElement("NoDataValue", ClassHierarchy.NoClass),
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

    /// <summary>The quick-look of 0-based <paramref name="level"/> of a map named <paramref name="stem"/>.</summary>
    public static string QuickLookPath(string dir, string stem, int level) => Path.Combine(dir, $"{stem}_L{level + 1}.png");

    /// <summary>One PNG per level with a legend; returns the paths.</summary>
    public static IReadOnlyList<string> WriteQuickLooks(string dir, string stem, ClassHierarchy tree, byte[][] levels, int width, int height, string title)
    {
        var paths = new List<string>();
        for (int l = 0; l < levels.Length; l++)
        {
            string p = QuickLookPath(dir, stem, l);
            QuickLook.ClassMap(levels[l], width, height, tree.Levels[l], $"{title} level {l + 1} ({tree.Levels[l].Name})").SavePng(p);
            paths.Add(p);
        }
        return paths;
    }

    /// <summary>
    /// PNG quick-looks (<c>{stem}_L{k}.png</c>, with legends) of the level bands of a class map that
    /// <c>hierars predict</c> wrote: band k holds level <paramref name="levels"/>[k]. Returns the paths.
    /// </summary>
    public static IReadOnlyList<string> WriteQuickLooks(string map, ClassHierarchy tree, IReadOnlyList<int> levels, string dir, string stem, string title)
    {
        using var r = Raster.Open(map);
        var paths = new List<string>();
        for (int k = 0; k < levels.Count; k++)
        {
            int band = k + 1;
            string p = QuickLookPath(dir, stem, levels[k]);
            // read a few rows at a time: the memory does not grow with the map
            QuickLook.ClassMap((y, rows, into) => r.Read(0, y, r.Width, rows, [band], into), r.Width, r.Height, tree.Levels[levels[k]],
                $"{title} level {levels[k] + 1} ({tree.Levels[levels[k]].Name})").SavePng(p);
            paths.Add(p);
        }
        return paths;
    }

    /// <summary>The first <paramref name="count"/> bands of a class map, whole (small maps: metrics of the demo scene).</summary>
    public static byte[][] ReadLevels(string map, int count)
    {
        using var r = Raster.Open(map);
        return Enumerable.Range(1, count).Select(b => ReadBand(r, b)).ToArray();
    }

    static byte[] ReadBand(Raster r, int band)
    {
        var d = new byte[(long)r.Width * r.Height];
        r.Read(0, 0, r.Width, r.Height, [band], d);
        return d;
    }
}
