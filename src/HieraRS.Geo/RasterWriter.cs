using HieraRS.Platform;

namespace HieraRS.Geo;

/// <summary>Creation options of written GeoTIFFs.</summary>
public sealed record GeoTiffOptions
{
    public int TileSize { get; init; } = 256;
    public string Compress { get; init; } = "DEFLATE";
    /// <summary>DEFLATE's level (GDAL's ZLEVEL, 1-9; null: GDAL's 6). 1 for files read back once, such as a prediction's parts.</summary>
    public int? Level { get; init; }
    /// <summary>Write a cloud-optimised GeoTIFF (with overviews) instead of a plain tiled one.</summary>
    public bool Cog { get; init; }
    /// <summary>GDAL's BIGTIFF option: IF_SAFER switches to BigTIFF when the file could pass 4 GB.</summary>
    public string BigTiff { get; init; } = "IF_SAFER";
    /// <summary>GDAL's PHOTOMETRIC option; null lets GDAL choose (RGB for 3 or 4 byte bands). MINISBLACK for bands that are not colours.</summary>
    public string? Photometric { get; init; }
}

/// <summary>
/// Writes a tiled, compressed GeoTIFF (or COG) under a temporary name; <see cref="Commit"/> closes
/// it and renames it into place, so an interrupted write never leaves a partial file at the path.
/// Disposing without committing deletes the temporary file.
/// </summary>
public sealed unsafe class RasterWriter : IDisposable
{
    IntPtr ds;
    readonly string tmp;
    readonly GeoTiffOptions options;
    public string Path { get; }
    public int Width { get; }
    public int Height { get; }
    public int BandCount { get; }

    RasterWriter(string path, string tmp, IntPtr ds, int w, int h, int bands, GeoTiffOptions options)
    {
        (Path, this.tmp, this.ds, Width, Height, BandCount, this.options) = (path, tmp, ds, w, h, bands, options);
    }

    public static RasterWriter Create(string path, int width, int height, int bands, RasterType type, GeoTiffOptions? options = null)
    {
        Gdal.Init();
        options ??= new GeoTiffOptions();
        string tmp = AtomicFile.TempPath(path, ".tif");
        var driver = Gdal.GDALGetDriverByName("GTiff");
        Gdal.Check(driver != IntPtr.Zero, path, "finding the GTiff driver");
        var opts = Gdal.List([
            "TILED=YES", $"BLOCKXSIZE={options.TileSize}", $"BLOCKYSIZE={options.TileSize}",
            $"COMPRESS={options.Compress}", $"BIGTIFF={options.BigTiff}", bands > 1 ? "INTERLEAVE=PIXEL" : "INTERLEAVE=BAND",
            .. options.Photometric is { } ph ? [$"PHOTOMETRIC={ph}"] : Array.Empty<string>(),
            .. options.Level is { } level ? [$"ZLEVEL={level}"] : Array.Empty<string>(),
        ]);
        try
        {
            var h = Gdal.GDALCreate(driver, tmp, width, height, bands, (int)type, opts);
            Gdal.Check(h != IntPtr.Zero, path, "creating the GeoTIFF");
            return new RasterWriter(path, tmp, h, width, height, bands, options);
        }
        finally { Gdal.FreeList(opts); }
    }

    public void SetGeoTransform(ReadOnlySpan<double> transform)
    {
        if (transform.Length != 6) throw new ArgumentException("a geotransform has 6 coefficients");
        fixed (double* p = transform) Gdal.Check(Gdal.GDALSetGeoTransform(ds, p) == 0, Path, "setting the geotransform");
    }

    public void SetProjection(string wkt)
    {
        if (wkt.Length > 0) Gdal.Check(Gdal.GDALSetProjection(ds, wkt) == 0, Path, "setting the projection");
    }

    /// <summary>The nodata value (a GeoTIFF keeps one for all its bands).</summary>
    public void SetNoData(double value)
    {
        for (int b = 1; b <= BandCount; b++)
            Gdal.Check(Gdal.GDALSetRasterNoDataValue(Gdal.GDALGetRasterBand(ds, b), value) == 0, Path, "setting nodata");
    }

    /// <summary>How a band's values map to physical values (value * scale + offset), as GIS software applies it.</summary>
    public void SetScale(int band, double scale, double offset = 0)
    {
        var h = Gdal.GDALGetRasterBand(ds, band);
        Gdal.Check(Gdal.GDALSetRasterScale(h, scale) == 0 && Gdal.GDALSetRasterOffset(h, offset) == 0, Path, $"setting the scale of band {band}");
    }

    public void SetDescription(int band, string text) => Gdal.GDALSetDescription(Gdal.GDALGetRasterBand(ds, band), text);

    /// <summary>Colour table of a byte band: entry i is the colour of value i.</summary>
    public void SetColorTable(int band, IReadOnlyList<(byte R, byte G, byte B)> colours)
    {
        var ct = Gdal.GDALCreateColorTable(1); // GPI_RGB
        try
        {
            short* e = stackalloc short[4];
            for (int i = 0; i < colours.Count; i++)
            {
                (e[0], e[1], e[2], e[3]) = (colours[i].R, colours[i].G, colours[i].B, 255);
                Gdal.GDALSetColorEntry(ct, i, e);
            }
            Gdal.Check(Gdal.GDALSetRasterColorTable(Gdal.GDALGetRasterBand(ds, band), ct) == 0, Path, $"setting the colour table of band {band}");
        }
        finally { Gdal.GDALDestroyColorTable(ct); }
    }

    /// <summary>Names of a band's values (value i is <paramref name="names"/>[i]): a GIS shows them as the legend.</summary>
    public void SetCategoryNames(int band, IReadOnlyList<string> names)
    {
        var list = Gdal.List(names);
        try { Gdal.Check(Gdal.GDALSetRasterCategoryNames(Gdal.GDALGetRasterBand(ds, band), list) == 0, Path, $"setting the class names of band {band}"); }
        finally { Gdal.FreeList(list); }
    }

    public void Write(int x, int y, int w, int h, ReadOnlySpan<int> bands, ReadOnlySpan<float> data)
    {
        fixed (float* p = data) WriteRaw(x, y, w, h, bands, p, data.Length, RasterType.Float32);
    }

    public void Write(int x, int y, int w, int h, ReadOnlySpan<int> bands, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) WriteRaw(x, y, w, h, bands, p, data.Length, RasterType.Byte);
    }

    void WriteRaw(int x, int y, int w, int h, ReadOnlySpan<int> bands, void* p, int length, RasterType type)
    {
        ObjectDisposedException.ThrowIf(ds == IntPtr.Zero, this);
        if (x < 0 || y < 0 || x + w > Width || y + h > Height) throw new ArgumentOutOfRangeException(nameof(x), $"{Path}: window outside the raster");
        if (length < w * h * bands.Length) throw new ArgumentException($"{Path}: buffer too small for the window");
        fixed (int* bm = bands)
            Gdal.Check(Gdal.GDALDatasetRasterIO(ds, Gdal.Write, x, y, w, h, p, w, h, (int)type, bands.Length, bm, 0, 0, 0) == 0,
                Path, $"writing window ({x}, {y}, {w} x {h})");
    }

    /// <summary>Flushes, closes and renames the file into place (converting to COG when asked).</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(ds == IntPtr.Zero, this);
        Gdal.CPLErrorReset();
        Gdal.GDALFlushCache(ds);
        Gdal.CheckLastError(Path, "flushing");
        string final = tmp;
        if (options.Cog)
        {
            final = tmp + ".cog.tif";
            var cog = Gdal.GDALGetDriverByName("COG");
            Gdal.Check(cog != IntPtr.Zero, Path, "finding the COG driver");
            var opts = Gdal.List([$"COMPRESS={options.Compress}", $"BLOCKSIZE={options.TileSize}", $"BIGTIFF={options.BigTiff}"]);
            try
            {
                var copy = Gdal.GDALCreateCopy(cog, final, ds, 0, opts, IntPtr.Zero, IntPtr.Zero);
                if (copy == IntPtr.Zero) File.Delete(final); // no partial COG left beside the output
                Gdal.Check(copy != IntPtr.Zero, Path, "writing the COG");
                Gdal.GDALClose(copy);
            }
            finally { Gdal.FreeList(opts); }
        }
        Gdal.GDALClose(ds);
        ds = IntPtr.Zero;
        Gdal.CheckLastError(Path, "closing");
        if (options.Cog) File.Delete(tmp);
        File.Move(final, Path, overwrite: true);
        MoveSidecar(options.Cog ? [final, tmp] : [tmp]);
    }

    /// <summary>
    /// What a TIFF cannot hold (class names) GDAL keeps in a .aux.xml beside the file: it follows the file
    /// to its name; an older one there, describing another file, is removed.
    /// </summary>
    void MoveSidecar(string[] written)
    {
        string target = Path + ".aux.xml";
        var found = written.Select(w => w + ".aux.xml").Where(File.Exists).ToList();
        if (found.Count == 0) { File.Delete(target); return; }
        File.Move(found[0], target, overwrite: true);
        foreach (var other in found.Skip(1)) File.Delete(other);
    }

    public void Dispose()
    {
        if (ds == IntPtr.Zero) return;
        Gdal.GDALClose(ds);
        ds = IntPtr.Zero;
        try { File.Delete(tmp); File.Delete(tmp + ".aux.xml"); } catch (IOException) { }
    }
}
