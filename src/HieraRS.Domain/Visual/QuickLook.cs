using HieraRS.Domain.Hierarchies;

namespace HieraRS.Domain.Visual;

/// <summary>Pictures a person looks at: class maps with a legend, true-colour composites of images.</summary>
public static class QuickLook
{
    /// <summary>Colour for pixels without a class (NoClass / nodata).</summary>
    public static readonly (byte R, byte G, byte B) NoClass = (0, 0, 0);

    /// <summary>
    /// A class map (values = class ids of <paramref name="level"/>) in the tree's colours, with a
    /// legend of the classes present on the right and a title above. Large maps are shrunk (nearest)
    /// to at most <paramref name="maxSize"/> pixels a side.
    /// </summary>
    public static Canvas ClassMap(ReadOnlySpan<byte> classes, int width, int height, HierarchyLevel level, string title, int maxSize = 1024)
    {
        var present = new bool[256];
        foreach (var v in classes) present[v] = true;
        var (map, mw, mh) = Shrink(width, height, maxSize);
        var body = new Canvas(mw, mh);
        for (int y = 0; y < mh; y++)
            for (int x = 0; x < mw; x++)
            {
                byte v = classes[map(y) * width + Col(x, width, mw)];
                body.Set(x, y, v < level.Count ? (level.Classes[v].R, level.Classes[v].G, level.Classes[v].B) : NoClass);
            }
        return Framed(body, title, LegendItems(level, present));
    }

    /// <summary>
    /// <see cref="ClassMap(ReadOnlySpan{byte}, int, int, HierarchyLevel, string, int)"/> of a map read a few rows
    /// at a time (<paramref name="readRows"/>(y, rows, into)), so a map of any size is drawn in bounded memory.
    /// </summary>
    public static Canvas ClassMap(Action<int, int, byte[]> readRows, int width, int height, HierarchyLevel level, string title, int maxSize = 1024)
    {
        var present = new bool[256];
        var (map, mw, mh) = Shrink(width, height, maxSize);
        var body = new Canvas(mw, mh);
        int chunk = Math.Max(1, (4 << 20) / width), y = 0; // sampled rows of the picture, in order
        var rows = new byte[(long)chunk * width];
        for (int y0 = 0; y0 < height; y0 += chunk)
        {
            int n = Math.Min(chunk, height - y0);
            readRows(y0, n, rows);
            foreach (var v in rows.AsSpan(0, n * width)) present[v] = true;
            for (; y < mh && map(y) < y0 + n; y++)
                for (int x = 0; x < mw; x++)
                {
                    byte v = rows[(map(y) - y0) * width + Col(x, width, mw)];
                    body.Set(x, y, v < level.Count ? (level.Classes[v].R, level.Classes[v].G, level.Classes[v].B) : NoClass);
                }
        }
        return Framed(body, title, LegendItems(level, present));
    }

    /// <summary>The legend: the classes present, and nodata when present.</summary>
    static List<((byte R, byte G, byte B), string)> LegendItems(HierarchyLevel level, bool[] present)
    {
        var items = level.Classes.Where(c => present[c.Id]).Select(c => ((c.R, c.G, c.B), $"{c.Id} {c.Name}")).ToList();
        if (present[ClassHierarchy.NoClass]) items.Add((NoClass, "no label / nodata"));
        return items;
    }

    static int Col(int x, int width, int mw) => (int)((long)x * width / mw);

    /// <summary>Nearest-neighbour row map and output size for shrinking to at most maxSize a side.</summary>
    static (Func<int, int> Row, int W, int H) Shrink(int width, int height, int maxSize)
    {
        double f = Math.Min(1.0, (double)maxSize / Math.Max(width, height));
        int w = Math.Max(1, (int)(width * f)), h = Math.Max(1, (int)(height * f));
        return (y => (int)((long)y * height / h), w, h);
    }

    /// <summary>
    /// A true-colour (or false-colour) composite of three bands of a [band][pixel] image, each stretched
    /// between its 2nd and 98th percentile over valid pixels.
    /// </summary>
    public static Canvas Composite(ReadOnlySpan<float> image, int bands, int width, int height, ReadOnlySpan<byte> valid, string title,
        int[]? rgbBands = null, int maxSize = 1024)
    {
        // GaoFen-2 and Sentinel-2 store blue, green, red first: red is band 3
        rgbBands ??= bands >= 4 ? [2, 1, 0] : bands == 3 ? [0, 1, 2] : [0, 0, 0];
        int n = width * height;
        var (lo, hi) = (new float[3], new float[3]);
        for (int k = 0; k < 3; k++)
        {
            var vals = new List<float>();
            var band = image.Slice(rgbBands[k] * n, n);
            int step = Math.Max(1, n / 200_000);
            for (int i = 0; i < n; i += step) if (valid.IsEmpty || valid[i] != 0) vals.Add(band[i]);
            vals.Sort();
            lo[k] = vals.Count > 0 ? vals[(int)(vals.Count * 0.02)] : 0;
            hi[k] = vals.Count > 0 ? vals[Math.Min(vals.Count - 1, (int)(vals.Count * 0.98))] : 1;
            if (hi[k] <= lo[k]) hi[k] = lo[k] + 1;
        }
        var (map, mw, mh) = Shrink(width, height, maxSize);
        var body = new Canvas(mw, mh);
        Span<byte> rgb = stackalloc byte[3];
        for (int y = 0; y < mh; y++)
            for (int x = 0; x < mw; x++)
            {
                int i = map(y) * width + Col(x, width, mw);
                if (!valid.IsEmpty && valid[i] == 0) { body.Set(x, y, NoClass); continue; }
                for (int k = 0; k < 3; k++) rgb[k] = (byte)Math.Clamp((image[rgbBands[k] * n + i] - lo[k]) / (hi[k] - lo[k]) * 255f, 0f, 255f);
                body.Set(x, y, (rgb[0], rgb[1], rgb[2]));
            }
        return Framed(body, title, []);
    }

    /// <summary>A body with a title above and a legend (swatch and text per item) to its right.</summary>
    public static Canvas Framed(Canvas body, string title, IReadOnlyList<((byte R, byte G, byte B) Colour, string Text)> legend)
    {
        const int pad = 8, row = 14, swatch = 10;
        int legendW = legend.Count == 0 ? 0 : pad + swatch + 6 + legend.Max(l => Font5x7.TextWidth(l.Text)) + pad;
        int titleH = 7 * 2 + 2 * pad;
        int w = Math.Max(pad + body.Width + legendW + pad, Font5x7.TextWidth(title, 2) + 2 * pad);
        int h = titleH + Math.Max(body.Height, legend.Count * row) + pad;
        var c = new Canvas(w, h, Canvas.White);
        c.Text(pad, pad, title, Canvas.Black, 2);
        c.Draw(body, pad, titleH);
        int lx = pad + body.Width + pad;
        for (int k = 0; k < legend.Count; k++)
        {
            int y = titleH + k * row;
            c.FillRect(lx, y, swatch, swatch, legend[k].Colour);
            c.Outline(lx, y, swatch, swatch, Canvas.Grey);
            c.Text(lx + swatch + 6, y + 2, legend[k].Text, Canvas.Black);
        }
        return c;
    }
}
