using HieraRS.Platform;
using System.Runtime.InteropServices;

namespace HieraRS.Geo;

/// <summary>
/// A raster opened read-only through GDAL (GeoTIFF, COG, PNG, JPEG, VRT, JP2 where the driver exists).
/// Reads windows of chosen bands, band-sequential, converted to float32 or bytes by GDAL. A GDAL
/// handle is not thread-safe, so every thread that reads gets its own handle to the file (opened on
/// its first read, closed with the raster): reads from several threads run concurrently.
/// </summary>
public sealed unsafe class Raster : IDisposable
{
    IntPtr ds; // the handle of the opening thread: metadata, and reads on that thread
    readonly object gate = new();
    readonly ThreadLocal<IntPtr> perThread;
    readonly int ownerThread = Environment.CurrentManagedThreadId;

    public string Path { get; }
    public int Width { get; }
    public int Height { get; }
    public int BandCount { get; }
    public RasterType[] BandTypes { get; }
    public double?[] NoData { get; }
    public string[] Descriptions { get; }
    /// <summary>GDAL's affine geotransform (x0, dx, rx, y0, ry, dy), or null when the file has none.</summary>
    public double[]? GeoTransform { get; }
    /// <summary>Coordinate reference system as WKT ("" when the file has none).</summary>
    public string Projection { get; }
    /// <summary>Natural block size of band 1 (tile or strip), the efficient unit to read.</summary>
    public (int Width, int Height) BlockSize { get; }

    Raster(string path, IntPtr handle)
    {
        Path = path; ds = handle;
        perThread = new ThreadLocal<IntPtr>(OpenHandle, trackAllValues: true);
        Width = Gdal.GDALGetRasterXSize(ds); Height = Gdal.GDALGetRasterYSize(ds); BandCount = Gdal.GDALGetRasterCount(ds);
        BandTypes = new RasterType[BandCount]; NoData = new double?[BandCount]; Descriptions = new string[BandCount];
        for (int b = 0; b < BandCount; b++)
        {
            var band = Gdal.GDALGetRasterBand(ds, b + 1);
            BandTypes[b] = (RasterType)Gdal.GDALGetRasterDataType(band);
            double nd = Gdal.GDALGetRasterNoDataValue(band, out int has);
            NoData[b] = has != 0 ? nd : null;
            Descriptions[b] = Marshal.PtrToStringUTF8(Gdal.GDALGetDescription(band)) ?? "";
        }
        if (BandCount > 0)
        {
            Gdal.GDALGetBlockSize(Gdal.GDALGetRasterBand(ds, 1), out int bx, out int by);
            BlockSize = (bx, by);
        }
        var gt = new double[6];
        fixed (double* p = gt) GeoTransform = Gdal.GDALGetGeoTransform(ds, p) == 0 ? gt : null;
        Gdal.CPLErrorReset();
        Projection = Marshal.PtrToStringUTF8(Gdal.GDALGetProjectionRef(ds)) ?? "";
    }

    /// <summary>File extensions taken as rasters when a folder is scanned (predict, score): one list for every command.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".tif", ".tiff", ".vrt", ".img", ".jp2", ".png", ".jpg", ".jpeg"];

    /// <summary>True when the path's extension is one of <see cref="Extensions"/>.</summary>
    public static bool IsRasterFile(string path) => Extensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());

    public static Raster Open(string path)
    {
        Gdal.Init();
        if (!path.StartsWith("/vsi", StringComparison.Ordinal)) InputFile.Check(path, "raster file");
        return new Raster(path, OpenHandle(path));
    }

    static IntPtr OpenHandle(string path)
    {
        var h = Gdal.GDALOpenEx(path, Gdal.OfRaster | Gdal.OfVerboseError, null, null, null);
        Gdal.Check(h != IntPtr.Zero, path, "opening the raster");
        return h;
    }

    IntPtr OpenHandle()
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(ds == IntPtr.Zero, this);
            return Environment.CurrentManagedThreadId == ownerThread ? ds : OpenHandle(Path);
        }
    }

    /// <summary>
    /// Windows covering the raster on a grid of <paramref name="blocksPerWindow"/> natural blocks per
    /// side, row by row (edge windows clipped): reads that follow it decompress every block once.
    /// </summary>
    public IEnumerable<(int X, int Y, int Width, int Height)> BlockWindows(int blocksPerWindow = 1)
    {
        if (blocksPerWindow < 1) throw new ArgumentOutOfRangeException(nameof(blocksPerWindow));
        int bw = BlockSize.Width * blocksPerWindow, bh = BlockSize.Height * blocksPerWindow;
        for (int y = 0; y < Height; y += bh)
            for (int x = 0; x < Width; x += bw)
                yield return (x, y, Math.Min(bw, Width - x), Math.Min(bh, Height - y));
    }

    /// <summary>Reads bands (1-based) of the window into dest as [band][row][col] float32.</summary>
    public void Read(int x, int y, int w, int h, ReadOnlySpan<int> bands, Span<float> dest) =>
        ReadRaw(x, y, w, h, bands, MemoryMarshal.AsBytes(dest), RasterType.Float32, sizeof(float));

    /// <summary>Reads bands (1-based) of the window into dest as [band][row][col] bytes (values clamped by GDAL).</summary>
    public void Read(int x, int y, int w, int h, ReadOnlySpan<int> bands, Span<byte> dest) =>
        ReadRaw(x, y, w, h, bands, dest, RasterType.Byte, 1);

    void ReadRaw(int x, int y, int w, int h, ReadOnlySpan<int> bands, Span<byte> dest, RasterType type, int size)
    {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > Width || y + h > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"{Path}: window ({x}, {y}, {w} x {h}) outside the {Width} x {Height} raster");
        foreach (var b in bands)
            if (b < 1 || b > BandCount) throw new ArgumentOutOfRangeException(nameof(bands), $"{Path}: band {b} outside 1..{BandCount}");
        if (dest.Length < (long)w * h * bands.Length * size) throw new ArgumentException($"{Path}: buffer too small for the window");
        ObjectDisposedException.ThrowIf(ds == IntPtr.Zero, this);
        var handle = perThread.Value;
        fixed (byte* p = dest)
        fixed (int* bm = bands)
            Gdal.Check(Gdal.GDALDatasetRasterIO(handle, Gdal.Read, x, y, w, h, p, w, h, (int)type, bands.Length, bm, 0, 0, 0) == 0,
                Path, $"reading window ({x}, {y}, {w} x {h})");
    }

    /// <summary>The files GDAL reads for this raster (itself, and for a VRT its sources; sidecars such as .aux.xml).</summary>
    public string[] Files()
    {
        var list = Gdal.GDALGetFileList(perThread.Value);
        try { return Gdal.Strings(list); }
        finally { Gdal.CSLDestroy(list); }
    }

    /// <summary>
    /// Whether GDAL knows, without reading pixels, that a window of a band holds only empty blocks
    /// (sparse blocks never written, read back as the nodata value); false when it holds data or GDAL cannot tell.
    /// </summary>
    public bool KnownEmpty(int band, int x, int y, int w, int h)
    {
        CheckBand(band);
        const int Unimplemented = 0x01, Data = 0x02, Empty = 0x04; // gdal.h GDAL_DATA_COVERAGE_STATUS_*
        int status = Gdal.GDALGetDataCoverageStatus(Gdal.GDALGetRasterBand(perThread.Value, band), x, y, w, h, 0, null);
        return (status & Empty) != 0 && (status & (Data | Unimplemented)) == 0;
    }

    /// <summary>GDAL's colour interpretation of a band by name: Gray, Undefined, Palette, Red, ...</summary>
    public string ColorInterpretation(int band)
    {
        CheckBand(band);
        return Marshal.PtrToStringUTF8(Gdal.GDALGetColorInterpretationName(Gdal.GDALGetRasterColorInterpretation(Gdal.GDALGetRasterBand(perThread.Value, band)))) ?? "";
    }

    /// <summary>Names of a band's values (GDAL category names), empty when it has none.</summary>
    public string[] CategoryNames(int band)
    {
        CheckBand(band);
        return Gdal.Strings(Gdal.GDALGetRasterCategoryNames(Gdal.GDALGetRasterBand(perThread.Value, band)));
    }

    void CheckBand(int band)
    {
        if (band < 1 || band > BandCount) throw new ArgumentOutOfRangeException(nameof(band), $"{Path}: band {band} outside 1..{BandCount}");
    }

    /// <summary>The scale of a band's values (physical = value * scale + offset); 1 when none is set.</summary>
    public double Scale(int band)
    {
        if (band < 1 || band > BandCount) throw new ArgumentOutOfRangeException(nameof(band), $"{Path}: band {band} outside 1..{BandCount}");
        double s = Gdal.GDALGetRasterScale(Gdal.GDALGetRasterBand(perThread.Value, band), out int ok);
        return ok != 0 ? s : 1.0;
    }

    /// <summary>The colour table of a band (index -> RGB), or null.</summary>
    public (byte R, byte G, byte B)[]? ColorTable(int band)
    {
        if (band < 1 || band > BandCount) throw new ArgumentOutOfRangeException(nameof(band), $"{Path}: band {band} outside 1..{BandCount}");
        var ct = Gdal.GDALGetRasterColorTable(Gdal.GDALGetRasterBand(perThread.Value, band));
        if (ct == IntPtr.Zero) return null;
        int n = Gdal.GDALGetColorEntryCount(ct);
        var r = new (byte, byte, byte)[n];
        for (int i = 0; i < n; i++)
        {
            short* e = Gdal.GDALGetColorEntry(ct, i);
            r[i] = ((byte)e[0], (byte)e[1], (byte)e[2]);
        }
        return r;
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (ds == IntPtr.Zero) return;
            foreach (var h in perThread.Values)
                if (h != ds) Gdal.GDALClose(h);
            perThread.Dispose();
            Gdal.GDALClose(ds);
            ds = IntPtr.Zero;
        }
    }
}
