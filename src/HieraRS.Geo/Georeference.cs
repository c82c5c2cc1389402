using System.Globalization;
using System.Runtime.InteropServices;

namespace HieraRS.Geo;

/// <summary>
/// Whether two rasters of one size lie on the same ground grid: the geotransforms agree to a small
/// fraction of a pixel and the CRSs are the same as GDAL judges them (not as text: one CRS has many WKTs).
/// </summary>
public static class Georeference
{
    /// <summary>What differs between <paramref name="a"/> and <paramref name="b"/> (a's value first), one phrase each; empty when they match.</summary>
    public static List<string> Differences(Raster a, Raster b)
    {
        var found = new List<string>();
        if (!SameTransform(a.GeoTransform, b.GeoTransform))
            found.Add($"geotransform {Describe(a.GeoTransform)} vs {Describe(b.GeoTransform)}");
        if (!SameCrs(a.Projection, b.Projection))
            found.Add($"CRS {CrsName(a.Projection)} vs {CrsName(b.Projection)}");
        return found;
    }

    static bool SameTransform(double[]? a, double[]? b)
    {
        if (a is null || b is null) return a is null && b is null;
        double pixel = Math.Max(Math.Max(Math.Abs(a[1]), Math.Abs(a[5])), Math.Max(Math.Abs(a[2]), Math.Abs(a[4])));
        // origins within 1/1000 of a pixel; the linear terms so close that 20000 pixels drift less than 1/50 of one
        foreach (int i in (int[])[0, 3])
            if (!(Math.Abs(a[i] - b[i]) <= 1e-3 * pixel)) return false;
        foreach (int i in (int[])[1, 2, 4, 5])
            if (!(Math.Abs(a[i] - b[i]) <= 1e-6 * pixel)) return false;
        return true;
    }

    static string Describe(double[]? t) => t is null ? "none" : string.Create(CultureInfo.InvariantCulture,
        $"(origin {t[0]:G10}, {t[3]:G10}; pixel {t[1]:G8} x {t[5]:G8}{(t[2] != 0 || t[4] != 0 ? $"; rotation {t[2]:G6}, {t[4]:G6}" : "")})");

    static bool SameCrs(string a, string b)
    {
        if (a.Length == 0 || b.Length == 0) return a.Length == b.Length;
        if (a == b) return true;
        Gdal.Init();
        IntPtr sa = Gdal.OSRNewSpatialReference(a), sb = Gdal.OSRNewSpatialReference(b);
        try { return sa != IntPtr.Zero && sb != IntPtr.Zero && Gdal.OSRIsSame(sa, sb) != 0; }
        finally
        {
            if (sa != IntPtr.Zero) Gdal.OSRDestroySpatialReference(sa);
            if (sb != IntPtr.Zero) Gdal.OSRDestroySpatialReference(sb);
        }
    }

    static string CrsName(string wkt)
    {
        if (wkt.Length == 0) return "none";
        IntPtr s = Gdal.OSRNewSpatialReference(wkt);
        if (s == IntPtr.Zero) return "(unreadable WKT)";
        try { return $"'{Marshal.PtrToStringUTF8(Gdal.OSRGetName(s)) ?? "unnamed"}'"; }
        finally { Gdal.OSRDestroySpatialReference(s); }
    }
}
