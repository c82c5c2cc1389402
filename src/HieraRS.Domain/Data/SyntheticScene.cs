using HieraRS.Domain.Hierarchies;
using HieraRS.Geo;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data;

/// <summary>Size, bands and look of generated scenes.</summary>
public sealed record SyntheticSceneOptions
{
    /// <summary>Scene width and height in pixels.</summary>
    public int Size { get; init; } = 256;
    public int Bands { get; init; } = 4;
    /// <summary>Ground sampling distance in metres (GaoFen-2 multispectral: 4 m).</summary>
    public double PixelSize { get; init; } = 4;
    /// <summary>Mean parcel (field) size in pixels.</summary>
    public int ParcelSize { get; init; } = 40;
    /// <summary>Standard deviation of per-pixel sensor noise, in units of the band's spread.</summary>
    public double Noise { get; init; } = 0.25;
    /// <summary>Width of a nodata collar around a tilted footprint, as a fraction of the size (0: none).</summary>
    public double NoDataCollar { get; init; }
}

/// <summary>
/// A procedural, georeferenced multi-band scene with labels for any class tree: parcels (a jittered
/// Voronoi partition inside larger zones of one coarse class), rivers, roads, and built-up blocks;
/// each class with its own spectrum (the spectra of siblings share their parent's, so the tree is
/// visible in the data) and texture (stripes for fields, blocks for buildings, mottling elsewhere),
/// plus illumination drift and sensor noise. Every pixel is a pure function of (seed, x, y), so any
/// window renders on its own and scenes of any size stream; the same seed gives the same scene.
/// </summary>
public sealed class SyntheticScene
{
    /// <summary>WGS 84 / UTM zone 50N (EPSG:32650), which covers much of eastern China.</summary>
    public const string Utm50N = "PROJCS[\"WGS 84 / UTM zone 50N\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563," +
        "AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\"," +
        "0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4326\"]],PROJECTION[\"Transverse_Mercator\"]," +
        "PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",117],PARAMETER[\"scale_factor\",0.9996]," +
        "PARAMETER[\"false_easting\",500000],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]]," +
        "AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH],AUTHORITY[\"EPSG\",\"32650\"]]";

    enum Kind { Plain, Field, Built, Water, Road }

    readonly ClassHierarchy tree;
    readonly SyntheticSceneOptions o;
    readonly ulong seed;
    readonly int[][] paths;          // valid paths, [path][level]
    readonly Kind[] kind;            // per path
    readonly float[][] spectrum;     // per path: band offsets in units of the band's spread
    readonly float[] textureAmp;     // per path
    readonly int[][] areaPathsByRoot; // per L1 class: paths a parcel in that zone may take
    readonly int[] allAreaPaths;
    readonly int riverPath, roadPath;
    readonly (bool Vertical, double Pos, double Amp, double Period, double Phase, double Width)[] rivers;
    readonly (bool Vertical, double Pos, double Width)[] roads;
    readonly float[] baseMean, baseStd;

    public ClassHierarchy Hierarchy => tree;
    public SyntheticSceneOptions Options => o;
    public int Width => o.Size;
    public int Height => o.Size;
    public int Bands => o.Bands;
    /// <summary>Geotransform: north-up, pixel size from the options, origin placed by the seed.</summary>
    public double[] GeoTransform { get; }
    public string Projection => Utm50N;
    /// <summary>Raw values of the nodata collar (every band).</summary>
    public const float NoDataValue = 0;
    /// <summary>The per-band statistics the spectra are built around (GaoFen-2 DN for 4 bands).</summary>
    public Normalization Normalization => new(baseMean, baseStd);

    public SyntheticScene(ClassHierarchy hierarchy, SyntheticSceneOptions? options = null, ulong seed = 0)
    {
        tree = hierarchy; o = options ?? new SyntheticSceneOptions(); this.seed = seed;
        if (o.Bands < 1 || o.Size < 16) throw new ArgumentException("a synthetic scene needs at least 1 band and 16 pixels");
        (baseMean, baseStd) = o.Bands == 4 ? (Normalization.GaoFen2.Mean, Normalization.GaoFen2.Std)
            : (Enumerable.Range(0, o.Bands).Select(b => 1200f + 150f * b).ToArray(), Enumerable.Repeat(300f, o.Bands).ToArray());
        var p = hierarchy.Paths;
        paths = Enumerable.Range(0, hierarchy.PathCount).Select(i => Enumerable.Range(0, hierarchy.Depth).Select(l => p[i, l]).ToArray()).ToArray();
        kind = paths.Select(KindOf).ToArray();

        // spectra depend on the tree only (not the scene seed), so every scene of a tree agrees;
        // each level adds a smaller offset to its parent's, so siblings look alike
        var g = new Generator(Datasets.Hash(hierarchy.Name, 0xC1A55));
        var offsets = hierarchy.Levels.Select((lv, l) => lv.Classes.Select(_ =>
            Enumerable.Range(0, o.Bands).Select(_ => (float)(g.NextNormal() * 1.3 / (1 << l))).ToArray()).ToArray()).ToArray();
        spectrum = paths.Select((path, i) =>
        {
            var s = new float[o.Bands];
            for (int l = 0; l < path.Length; l++)
                for (int b = 0; b < o.Bands; b++) s[b] += offsets[l][path[l]][b];
            // the physical signature of a kind on top: water dark in NIR, vegetation bright in NIR, built-up bright
            if (o.Bands >= 4)
                switch (kind[i])
                {
                    case Kind.Water: s[3] -= 2.5f; for (int b = 0; b < 3; b++) s[b] -= 0.5f; break;
                    case Kind.Field: s[3] += 1.2f; break;
                    case Kind.Built or Kind.Road: for (int b = 0; b < o.Bands; b++) s[b] += 0.8f; break;
                }
            return s;
        }).ToArray();
        textureAmp = paths.Select(_ => (float)(0.15 + 0.5 * g.NextDouble())).ToArray();

        var area = Enumerable.Range(0, paths.Length).Where(i => kind[i] != Kind.Road).ToArray();
        allAreaPaths = area.Length > 0 ? area : Enumerable.Range(0, paths.Length).ToArray();
        areaPathsByRoot = hierarchy.Levels[0].Classes.Select(c => allAreaPaths.Where(i => paths[i][0] == c.Id).ToArray()).ToArray();
        riverPath = Array.FindIndex(paths, q => Name(q).Contains("river")) is var r && r >= 0 ? r : Array.FindIndex(kind, k => k == Kind.Water);
        roadPath = Array.FindIndex(paths, q => Name(q).Contains("road")) is var rd && rd >= 0 ? rd : Array.FindIndex(kind, k => k == Kind.Road);

        var sg = new Generator(Datasets.Hash("scene", seed));
        int nRivers = riverPath < 0 ? 0 : 1 + o.Size / 1536 + (sg.NextDouble() < 0.5 ? 0 : 1);
        rivers = Enumerable.Range(0, nRivers).Select(_ => (sg.NextDouble() < 0.5, sg.NextDouble() * o.Size, 10 + sg.NextDouble() * o.Size / 12.0,
            o.Size * (0.3 + sg.NextDouble()), sg.NextDouble() * 2 * Math.PI, 5 + sg.NextDouble() * 12)).ToArray();
        int nRoads = roadPath < 0 ? 0 : 2 + o.Size / 512;
        roads = Enumerable.Range(0, nRoads).Select(_ => (sg.NextDouble() < 0.5, sg.NextDouble() * o.Size, 3 + sg.NextDouble() * 5)).ToArray();
        GeoTransform = [400_000 + 4096 * o.PixelSize * sg.NextInt(40), o.PixelSize, 0, 3_300_000 + 4096 * o.PixelSize * sg.NextInt(40), 0, -o.PixelSize];
    }

    string Name(int[] path) => string.Join(" ", path.Select((c, l) => tree.Levels[l].Classes[c].Name)).ToLowerInvariant();

    Kind KindOf(int[] path)
    {
        string leaf = tree.Levels[^1].Classes[path[^1]].Name.ToLowerInvariant(), all = Name(path);
        static bool Has(string s, params string[] words) => words.Any(s.Contains);
        if (Has(leaf, "road", "railway", "traffic", "overpass")) return Kind.Road;
        if (Has(all, "water", "river", "lake", "pond", "sea")) return Kind.Water;
        if (Has(all, "industrial", "residen", "building", "urban", "rural", "built", "stadium", "airport", "artificial surface")) return Kind.Built;
        if (Has(all, "crop", "paddy", "field", "farm", "irrigated", "rice", "corn", "soybean", "garden")) return Kind.Field;
        return Kind.Plain;
    }

    /// <summary>The whole scene as a sample (labels of every level, valid mask, georeferencing).</summary>
    public Sample Render(string id = "synthetic")
    {
        var (image, labels, valid) = RenderWindow(0, 0, Width, Height);
        return new Sample(id, Bands, Height, Width, image, labels, valid)
        {
            LabelLevel = tree.Depth - 1, GeoTransform = GeoTransform, Projection = Projection, ImagePath = id,
        };
    }

    /// <summary>
    /// One window: raw band values [band][row][col] (nodata = 0 in the collar), labels of every level
    /// (NoClass in the collar) and the valid mask.
    /// </summary>
    public (float[] Image, byte[][] Labels, byte[] Valid) RenderWindow(int x0, int y0, int w, int h)
    {
        int n = w * h;
        var image = new float[o.Bands * n];
        var labels = Enumerable.Range(0, tree.Depth).Select(_ => new byte[n]).ToArray();
        var valid = new byte[n];
        Engine.For(h, w * 200L, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
                for (int c = 0; c < w; c++)
                {
                    int i = r * w + c, x = x0 + c, y = y0 + r;
                    if (!InFootprint(x, y))
                    {
                        foreach (var l in labels) l[i] = ClassHierarchy.NoClass;
                        continue; // image stays 0 = nodata
                    }
                    valid[i] = 1;
                    var (path, texture) = Pixel(x, y);
                    for (int l = 0; l < labels.Length; l++) labels[l][i] = (byte)paths[path][l];
                    float light = 0.35f * ValueNoise(x, y, 181, 7);
                    for (int b = 0; b < o.Bands; b++)
                    {
                        float noise = (float)o.Noise * (2 * Unit(Hash4(x, y, b, 11)) - 1) * 1.7f;
                        float z = spectrum[path][b] + textureAmp[path] * texture + light + noise;
                        image[b * n + i] = MathF.Max(1f, MathF.Round(baseMean[b] + baseStd[b] * z));
                    }
                }
        });
        return (image, labels, valid);
    }

    /// <summary>
    /// Writes the scene as a GaoFen-2-like GeoTIFF (UInt16, band descriptions, nodata 0 when there is a
    /// collar) and its finest labels in the tree's default encoding (byte, colour table), strip by
    /// strip, so memory stays bounded for scenes of any size.
    /// </summary>
    public void Write(string imagePath, string labelPath, GeoTiffOptions? options = null, Action<long>? progress = null)
    {
        var enc = tree.Encoding;
        int finest = tree.Depth - 1;
        if (enc.Level != finest) throw new InvalidOperationException($"hierarchy '{tree.Name}': its default encoding is not of the finest level");
        var stored = new byte[256];
        for (int c = 0; c < tree.Levels[finest].Count; c++)
            stored[c] = (byte)enc.Values.Where(kv => kv.Value == c).Min(kv => kv.Key);
        byte unlabelled = enc.Unlabelled.Count > 0 ? (byte)enc.Unlabelled.Min() : ClassHierarchy.NoClass;
        stored[ClassHierarchy.NoClass] = unlabelled;
        using var img = RasterWriter.Create(imagePath, Width, Height, Bands, RasterType.UInt16, options);
        using var lab = RasterWriter.Create(labelPath, Width, Height, 1, RasterType.Byte, options);
        foreach (var w in new[] { img, lab }) { w.SetGeoTransform(GeoTransform); w.SetProjection(Projection); }
        string[] names = Bands == 4 ? ["Blue", "Green", "Red", "NIR"] : Enumerable.Range(1, Bands).Select(b => $"Band {b}").ToArray();
        for (int b = 0; b < Bands; b++) img.SetDescription(b + 1, names[b]);
        if (o.NoDataCollar > 0) { img.SetNoData(NoDataValue); lab.SetNoData(unlabelled); }
        lab.SetDescription(1, $"{tree.Levels[finest].Name} ({tree.Name}, encoding '{enc.Name}')");
        var colours = new (byte, byte, byte)[256];
        foreach (var c in tree.Levels[finest].Classes) colours[stored[c.Id]] = (c.R, c.G, c.B);
        lab.SetColorTable(1, colours);
        var classNames = new string[tree.Levels[finest].Classes.Max(c => stored[c.Id]) + 1];
        Array.Fill(classNames, "");
        foreach (var c in tree.Levels[finest].Classes) classNames[stored[c.Id]] = c.Name;
        lab.SetCategoryNames(1, classNames);
        int[] bandList = Enumerable.Range(1, Bands).ToArray();
        for (int y = 0; y < Height; y += 512)
        {
            int h = Math.Min(512, Height - y);
            var (image, labels, _) = RenderWindow(0, y, Width, h);
            var values = labels[finest];
            for (int i = 0; i < values.Length; i++) values[i] = stored[values[i]];
            img.Write(0, y, Width, h, bandList, image);
            lab.Write(0, y, Width, h, [1], values);
            progress?.Invoke((long)Width * h);
        }
        img.Commit();
        lab.Commit();
    }

    bool InFootprint(int x, int y)
    {
        if (o.NoDataCollar <= 0) return true;
        // a footprint tilted by ~8 degrees, as a satellite scene in a north-up grid
        double cx = x - Width / 2.0, cy = y - Height / 2.0, a = 0.14;
        double u = cx * Math.Cos(a) + cy * Math.Sin(a), v = -cx * Math.Sin(a) + cy * Math.Cos(a);
        double half = Width * (0.5 - o.NoDataCollar);
        return Math.Abs(u) <= half && Math.Abs(v) <= half;
    }

    /// <summary>The path of a pixel and its texture value (in [-1, 1]).</summary>
    (int Path, float Texture) Pixel(int x, int y)
    {
        foreach (var rv in rivers)
        {
            double along = rv.Vertical ? y : x, across = rv.Vertical ? x : y;
            double centre = rv.Pos + rv.Amp * Math.Sin(2 * Math.PI * along / rv.Period + rv.Phase);
            double slope = rv.Amp * 2 * Math.PI / rv.Period * Math.Cos(2 * Math.PI * along / rv.Period + rv.Phase);
            if (Math.Abs(across - centre) / Math.Sqrt(1 + slope * slope) < rv.Width / 2) return (riverPath, ValueNoise(x, y, 9, 3));
        }
        foreach (var rd in roads)
            if (Math.Abs((rd.Vertical ? x : y) - rd.Pos) < rd.Width / 2) return (roadPath, ValueNoise(x, y, 4, 5) * 0.5f);

        // zones of one coarse class (large cells), parcels inside them (small cells), both Voronoi on jittered grids
        var (zx, zy) = Nearest(x, y, o.ParcelSize * 5, 21);
        var (px, py) = Nearest(x, y, o.ParcelSize, 23);
        int zone = (int)(Hash4(zx, zy, 0, 31) >> 33);
        ulong ph = Hash4(px, py, 0, 29);
        var rootChoices = areaPathsByRoot[(int)((uint)zone % (uint)areaPathsByRoot.Length)];
        // mostly the zone's coarse class, sometimes anything (mixed landscapes)
        var pool = rootChoices.Length > 0 && Unit(ph) < 0.8 ? rootChoices : allAreaPaths;
        int path = pool[(int)((ph >> 20) % (ulong)pool.Length)];
        float texture = kind[path] switch
        {
            Kind.Field => MathF.Sin((float)((x * Math.Cos(Unit(ph >> 8) * Math.PI) + y * Math.Sin(Unit(ph >> 8) * Math.PI)) * 2 * Math.PI / (4 + 6 * Unit(ph >> 16)))),
            Kind.Built => ((x + (int)(ph & 7)) % 11 < 7 && (y + (int)((ph >> 3) & 7)) % 13 < 8) ? 1f : -1f,
            Kind.Water => 0.3f * ValueNoise(x, y, 16, 13),
            _ => ValueNoise(x, y, 6, 17),
        };
        return (path, texture);
    }

    /// <summary>Grid cell of the nearest seed point of a jittered grid with cell size <paramref name="cell"/>.</summary>
    (int I, int J) Nearest(int x, int y, int cell, int salt)
    {
        int ci = x / cell, cj = y / cell, bestI = ci, bestJ = cj;
        double best = double.MaxValue;
        for (int dj = -1; dj <= 1; dj++)
            for (int di = -1; di <= 1; di++)
            {
                int i = ci + di, j = cj + dj;
                ulong hsh = Hash4(i, j, salt, 1);
                double sx = (i + 0.1 + 0.8 * Unit(hsh)) * cell, sy = (j + 0.1 + 0.8 * Unit(hsh >> 21)) * cell;
                double d = (sx - x) * (sx - x) + (sy - y) * (sy - y);
                if (d < best) { best = d; bestI = i; bestJ = j; }
            }
        return (bestI, bestJ);
    }

    /// <summary>Smooth noise in [-1, 1]: random values on a lattice of spacing <paramref name="scale"/>, bilinearly blended.</summary>
    float ValueNoise(int x, int y, int scale, int salt)
    {
        float fx = (float)x / scale, fy = (float)y / scale;
        int ix = (int)MathF.Floor(fx), iy = (int)MathF.Floor(fy);
        float tx = fx - ix, ty = fy - iy;
        tx = tx * tx * (3 - 2 * tx); ty = ty * ty * (3 - 2 * ty);
        float a = Unit(Hash4(ix, iy, salt, 3)), b = Unit(Hash4(ix + 1, iy, salt, 3));
        float c = Unit(Hash4(ix, iy + 1, salt, 3)), d = Unit(Hash4(ix + 1, iy + 1, salt, 3));
        return 2 * ((a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty) - 1;
    }

    ulong Hash4(int x, int y, int z, int salt)
    {
        ulong h = seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)x * 0xBF58476D1CE4E5B9UL ^ (ulong)(uint)y * 0x94D049BB133111EBUL
            ^ (ulong)(uint)z * 0xD6E8FEB86659FD93UL ^ (ulong)salt * 0xA0761D6478BD642FUL;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }

    static float Unit(ulong h) => (h & 0xFFFFFF) * (1f / 0x1000000);
}

/// <summary>A list of synthetic scenes (scene i from seed and i) as a dataset.</summary>
public sealed class SyntheticDataset(ClassHierarchy hierarchy, SyntheticSceneOptions options, int count, ulong seed, string name = "synthetic",
    Normalization? normalization = null) : ISegmentationDataset
{
    public string Name => name;
    public ClassHierarchy Hierarchy => hierarchy;
    public int Bands => options.Bands;
    public Normalization Normalization { get; } = (normalization is { Bands: 1 } ? null : normalization)
        ?? new SyntheticScene(hierarchy, options, 0).Normalization;
    public int Count => count;
    public string Id(int index) => $"{name}/{index}";
    public SyntheticScene Scene(int index) => new(hierarchy, options, Datasets.Hash(index.ToString(System.Globalization.CultureInfo.InvariantCulture), seed));
    public Sample Load(int index)
    {
        var s = Scene(index).Render(Id(index));
        s.IgnoreInvalid();
        return s;
    }
}
