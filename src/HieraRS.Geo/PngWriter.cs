using HieraRS.Platform;

namespace HieraRS.Geo;

/// <summary>
/// Writes RGB pictures (quick-looks, legends, confusion matrices) as PNG through GDAL: an in-memory
/// raster copied by the PNG driver to a temporary name, then renamed into place.
/// </summary>
public static unsafe class PngWriter
{
    /// <summary>Writes <paramref name="rgb"/> (interleaved R, G, B per pixel, row-major) as an 8-bit RGB PNG.</summary>
    public static void Write(string path, ReadOnlySpan<byte> rgb, int width, int height)
    {
        if (width <= 0 || height <= 0 || rgb.Length != width * height * 3)
            throw new ArgumentException($"{path}: an RGB picture of {width} x {height} needs {width * height * 3} bytes, got {rgb.Length}");
        Gdal.Init();
        var mem = Gdal.GDALGetDriverByName("MEM");
        var png = Gdal.GDALGetDriverByName("PNG");
        Gdal.Check(mem != IntPtr.Zero && png != IntPtr.Zero, path, "finding GDAL's MEM and PNG drivers");
        var ds = Gdal.GDALCreate(mem, "", width, height, 3, (int)RasterType.Byte, null);
        Gdal.Check(ds != IntPtr.Zero, path, "creating the in-memory picture");
        string tmp = AtomicFile.TempPath(path, ".png");
        try
        {
            int* bands = stackalloc int[] { 1, 2, 3 };
            fixed (byte* p = rgb)
                // pixel-interleaved buffer: pixel stride 3, line stride 3w, band stride 1
                Gdal.Check(Gdal.GDALDatasetRasterIO(ds, Gdal.Write, 0, 0, width, height, p, width, height, (int)RasterType.Byte, 3, bands,
                    3, 3 * width, 1) == 0, path, "filling the picture");
            var copy = Gdal.GDALCreateCopy(png, tmp, ds, 0, null, IntPtr.Zero, IntPtr.Zero);
            Gdal.Check(copy != IntPtr.Zero, path, "writing the PNG");
            Gdal.GDALClose(copy);
            Gdal.CheckLastError(path, "closing the PNG");
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            Gdal.GDALClose(ds);
            if (File.Exists(tmp)) File.Delete(tmp);
            if (File.Exists(tmp + ".aux.xml")) File.Delete(tmp + ".aux.xml");
        }
    }
}
