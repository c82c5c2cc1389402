using HieraRS.Domain.Hierarchies;
using HieraRS.Geo;

namespace HieraRS.Domain.Inference;

/// <summary>
/// The output GeoTIFF (and the probabilities GeoTIFF, when asked) from the finished parts, one part at a
/// time, each written under a temporary name and renamed; then the colour VRT beside the output.
/// </summary>
sealed class SceneAssembler(Raster src, OutputBands bands, PredictOptions options)
{
    public void Assemble(string output, StripPlan plan, PartStore store)
    {
        var tree = bands.Hierarchy;
        using var dst = Open(output, bands.MapBands);
        for (int k = 0; k < bands.Levels.Length; k++)
        {
            dst.SetDescription(k + 1, $"level {bands.Levels[k] + 1}: {tree.Levels[bands.Levels[k]].Name} ({tree.Name})");
            if (bands.MapBands == 1) ClassMaps.SetClasses(dst, 1, tree.Levels[bands.Levels[k]]); // one band: a TIFF keeps its colour table
            if (!bands.Confidence) continue;
            dst.SetDescription(bands.Levels.Length + k + 1, $"confidence of level {bands.Levels[k] + 1} (0-254 = 0-1)");
            dst.SetScale(bands.Levels.Length + k + 1, 1.0 / 254);
        }
        using var prob = options.Probabilities is { } pp ? OpenProbabilities(pp) : null;
        CopyParts(plan, store, dst, prob);
        prob?.Commit();
        dst.Commit();
        ClassMaps.WriteColourVrt(ColourVrtPath(output), output, tree, bands.Levels, src.Width, src.Height, src.GeoTransform, src.Projection);
    }

    /// <summary>The VRT written beside an output: its level bands with colour tables and class names.</summary>
    public static string ColourVrtPath(string output) => Path.ChangeExtension(output, ".vrt");

    RasterWriter Open(string path, int count)
    {
        // class ids and probabilities are not colours: never RGB (GDAL's default for 3 or 4 byte bands); one band stays free to take a palette
        var w = RasterWriter.Create(path, src.Width, src.Height, count, RasterType.Byte, new GeoTiffOptions { Cog = options.Cog, Photometric = count > 1 ? "MINISBLACK" : null });
        if (src.GeoTransform is { } gt) w.SetGeoTransform(gt);
        w.SetProjection(src.Projection);
        w.SetNoData(ClassHierarchy.NoClass);
        return w;
    }

    RasterWriter OpenProbabilities(string path)
    {
        var prob = Open(path, bands.Count - bands.MapBands);
        int band = 1;
        foreach (var l in bands.ProbabilityLevels)
            foreach (var c in bands.Hierarchy.Levels[l].Classes)
            {
                prob.SetDescription(band, $"P(level {l + 1} = {c.Name}) (0-254 = 0-1)");
                prob.SetScale(band++, 1.0 / 254);
            }
        return prob;
    }

    static void CopyParts(StripPlan plan, PartStore store, RasterWriter dst, RasterWriter? prob)
    {
        int mapBands = dst.BandCount, all = mapBands + (prob?.BandCount ?? 0);
        var mapList = Enumerable.Range(1, mapBands).ToArray();
        var probList = Enumerable.Range(1, all - mapBands).ToArray();
        var data = new byte[all * plan.MaxPartPixels]; // one buffer for every part
        for (int unit = 0; unit < plan.PartCount; unit++)
        {
            var (x, y, w, h) = plan.Part(unit);
            int n = w * h;
            store.Read(unit, all, data);
            dst.Write(x, y, w, h, mapList, data.AsSpan(0, mapBands * n));
            prob?.Write(x, y, w, h, probList, data.AsSpan(mapBands * n));
        }
    }
}
