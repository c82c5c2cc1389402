namespace HieraRS.Geo;

/// <summary>GDAL's block cache, shared by every raster of the process.</summary>
public static class RasterCache
{
    /// <summary>
    /// Caps the cache at <paramref name="bytes"/> (default 128 MB at initialisation); GDAL_CACHEMAX in the
    /// environment still wins. A cache that a long run fills to its cap is part of its peak memory.
    /// </summary>
    public static void Limit(long bytes)
    {
        Gdal.Init();
        if (Environment.GetEnvironmentVariable("GDAL_CACHEMAX") is null) Gdal.GDALSetCacheMax64(bytes);
    }
}
