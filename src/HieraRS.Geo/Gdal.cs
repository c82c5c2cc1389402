using System.Runtime.InteropServices;
using HieraRS.Platform;

namespace HieraRS.Geo;

/// <summary>GDAL raster data types (GDALDataType).</summary>
public enum RasterType { Unknown = 0, Byte = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Float64 = 7 }

/// <summary>A GDAL failure, naming the file and carrying GDAL's own message.</summary>
public sealed class GdalException(string message) : IOException(message);

/// <summary>P/Invoke bindings to the GDAL C API (Debian libgdal32), and the error plumbing.</summary>
internal static unsafe partial class Gdal
{
    const string Lib = "gdal";
    public const int OfRaster = 0x02, OfUpdate = 0x01, OfVerboseError = 0x40;
    public const int Read = 0, Write = 1;

    static readonly object InitLock = new();

    /// <summary>GDAL's sonames, newest Debian release's first, and the package to install.</summary>
    public static readonly NativeLibraryInfo Library = new(Lib, "libgdal32",
        "libgdal.so.32", "libgdal.so.34", "libgdal.so.35", "libgdal.so.36", "libgdal.so.33", "libgdal.so.31", "libgdal.so.30", "libgdal.so");

    /// <summary>GDAL block cache size set at initialisation (128 MB).</summary>
    public const long CacheBytes = 128L << 20;
    static bool initialised;

    /// <summary>Loads GDAL (with a clear message naming the package if missing) and registers its drivers once.</summary>
    public static void Init()
    {
        lock (InitLock)
        {
            if (initialised) return;
            NativeLibraries.Register(typeof(Gdal).Assembly, Library);
            NativeLibraries.Load(Library);
            GDALAllRegister();
            // GDAL's block cache defaults to 5% of RAM; a bounded one keeps streamed reads and writes flat
            // in memory (GDAL_CACHEMAX in the environment still wins)
            if (Environment.GetEnvironmentVariable("GDAL_CACHEMAX") is null) GDALSetCacheMax64(CacheBytes);
            CPLSetErrorHandler(&QuietHandler); // errors come back as exceptions, not on stderr
            initialised = true;
        }
    }

    [UnmanagedCallersOnly]
    static void QuietHandler(int errClass, int errNo, byte* msg) { }

    /// <summary>Throws when GDAL recorded an error (CE_Failure or worse) since the last reset.</summary>
    public static void CheckLastError(string path, string what) => Check(CPLGetLastErrorType() < 3, path, what);

    /// <summary>Throws with the file name and GDAL's last message when <paramref name="ok"/> is false.</summary>
    public static void Check(bool ok, string path, string what)
    {
        if (ok) return;
        string msg = Marshal.PtrToStringUTF8(CPLGetLastErrorMsg()) ?? "";
        CPLErrorReset();
        throw new GdalException($"{path}: {what} failed{(msg.Length > 0 ? ": " + msg : "")}");
    }

    /// <summary>A NULL-terminated char** of KEY=VALUE options (free with <see cref="FreeList"/>).</summary>
    public static IntPtr* List(IReadOnlyList<string> items)
    {
        var p = (IntPtr*)NativeMemory.AllocZeroed((nuint)(items.Count + 1), (nuint)sizeof(IntPtr));
        for (int i = 0; i < items.Count; i++) p[i] = Marshal.StringToCoTaskMemUTF8(items[i]);
        return p;
    }

    public static void FreeList(IntPtr* p)
    {
        if (p == null) return;
        for (int i = 0; p[i] != IntPtr.Zero; i++) Marshal.FreeCoTaskMem(p[i]);
        NativeMemory.Free(p);
    }

    [LibraryImport(Lib)] public static partial void GDALAllRegister();
    [LibraryImport(Lib)] public static partial void GDALSetCacheMax64(long bytes);
    [LibraryImport(Lib)] public static partial IntPtr CPLSetErrorHandler(delegate* unmanaged<int, int, byte*, void> handler);
    [LibraryImport(Lib)] public static partial IntPtr CPLGetLastErrorMsg();
    [LibraryImport(Lib)] public static partial int CPLGetLastErrorType();
    [LibraryImport(Lib)] public static partial void CPLErrorReset();
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr GDALOpenEx(string path, uint flags, IntPtr* drivers, IntPtr* options, IntPtr* siblings);
    [LibraryImport(Lib)] public static partial void GDALClose(IntPtr ds);
    [LibraryImport(Lib)] public static partial int GDALGetRasterXSize(IntPtr ds);
    [LibraryImport(Lib)] public static partial int GDALGetRasterYSize(IntPtr ds);
    [LibraryImport(Lib)] public static partial int GDALGetRasterCount(IntPtr ds);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetRasterBand(IntPtr ds, int band);
    [LibraryImport(Lib)] public static partial int GDALGetRasterDataType(IntPtr band);
    [LibraryImport(Lib)] public static partial void GDALGetBlockSize(IntPtr band, out int x, out int y);
    [LibraryImport(Lib)] public static partial double GDALGetRasterNoDataValue(IntPtr band, out int success);
    [LibraryImport(Lib)] public static partial int GDALSetRasterNoDataValue(IntPtr band, double value);
    [LibraryImport(Lib)] public static partial int GDALSetRasterScale(IntPtr band, double scale);
    [LibraryImport(Lib)] public static partial int GDALSetRasterOffset(IntPtr band, double offset);
    [LibraryImport(Lib)] public static partial double GDALGetRasterScale(IntPtr band, out int success);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetDescription(IntPtr obj);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial void GDALSetDescription(IntPtr obj, string description);
    [LibraryImport(Lib)] public static partial int GDALGetGeoTransform(IntPtr ds, double* transform);
    [LibraryImport(Lib)] public static partial int GDALSetGeoTransform(IntPtr ds, double* transform);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetProjectionRef(IntPtr ds);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int GDALSetProjection(IntPtr ds, string wkt);
    [LibraryImport(Lib)] public static partial int GDALDatasetRasterIO(IntPtr ds, int rw, int x, int y, int w, int h, void* data,
        int bufW, int bufH, int bufType, int bandCount, int* bandMap, int pixelSpace, int lineSpace, int bandSpace);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr GDALGetDriverByName(string name);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr GDALCreate(IntPtr driver, string path, int w, int h, int bands, int type, IntPtr* options);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr GDALCreateCopy(IntPtr driver, string path, IntPtr src, int strict, IntPtr* options, IntPtr progress, IntPtr progressData);
    [LibraryImport(Lib)] public static partial void GDALFlushCache(IntPtr ds); // void before GDAL 3.7; errors surface through CPLGetLastErrorNo
    [LibraryImport(Lib)] public static partial IntPtr GDALCreateColorTable(int interpretation);
    [LibraryImport(Lib)] public static partial void GDALDestroyColorTable(IntPtr table);
    [LibraryImport(Lib)] public static partial void GDALSetColorEntry(IntPtr table, int index, short* entry);
    [LibraryImport(Lib)] public static partial int GDALGetColorEntryCount(IntPtr table);
    [LibraryImport(Lib)] public static partial short* GDALGetColorEntry(IntPtr table, int index);
    [LibraryImport(Lib)] public static partial int GDALSetRasterColorTable(IntPtr band, IntPtr table);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetRasterColorTable(IntPtr band);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetFileList(IntPtr ds);
    [LibraryImport(Lib)] public static partial void CSLDestroy(IntPtr list);
    [LibraryImport(Lib)] public static partial int GDALGetRasterColorInterpretation(IntPtr band);
    [LibraryImport(Lib)] public static partial int GDALSetRasterColorInterpretation(IntPtr band, int interpretation);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetRasterCategoryNames(IntPtr band);
    [LibraryImport(Lib)] public static partial int GDALSetRasterCategoryNames(IntPtr band, IntPtr* names);
    [LibraryImport(Lib)] public static partial IntPtr GDALGetColorInterpretationName(int interpretation);
    [LibraryImport(Lib)] public static partial int GDALGetDataCoverageStatus(IntPtr band, int x, int y, int w, int h, int maskFlagStop, double* dataPct);

    /// <summary>The strings of a NULL-terminated char** GDAL returned (not freed).</summary>
    public static string[] Strings(IntPtr list)
    {
        var r = new List<string>();
        if (list == IntPtr.Zero) return [];
        for (var p = (IntPtr*)list; *p != IntPtr.Zero; p++) r.Add(Marshal.PtrToStringUTF8(*p) ?? "");
        return [.. r];
    }
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr OSRNewSpatialReference(string wkt);
    [LibraryImport(Lib)] public static partial void OSRDestroySpatialReference(IntPtr srs);
    [LibraryImport(Lib)] public static partial int OSRIsSame(IntPtr a, IntPtr b);
    [LibraryImport(Lib)] public static partial IntPtr OSRGetName(IntPtr srs);
}
