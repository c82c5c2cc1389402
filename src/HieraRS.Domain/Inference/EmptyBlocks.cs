using HieraRS.Geo;

namespace HieraRS.Domain.Inference;

/// <summary>
/// Which blocks of a scene hold no data, found once per block before any window reads its pixels: a
/// pixel holds none when every band with a nodata value holds that value, so a block holds none when
/// each such band is its nodata value throughout (asked of GDAL first: sparse blocks cost nothing; then
/// read band by band, stopping at the first band with data). Cells are the file's natural blocks (or
/// 512 x 512 pieces of larger ones). A scene with no nodata value has no empty blocks. Used from one thread.
/// </summary>
sealed class EmptyBlocks
{
    const int MaxCell = 512;
    readonly Raster src;
    readonly (int Band, float Value)[] noData;
    readonly int cellW, cellH, cols;
    readonly byte[] state; // 0 unknown, 1 empty, 2 data
    float[] buffer = [];

    public EmptyBlocks(Raster src)
    {
        this.src = src;
        noData = src.NoData.Select((v, b) => (b + 1, v)).Where(t => t.v is not null).Select(t => (t.Item1, (float)t.v!.Value)).ToArray();
        var (bw, bh) = src.BlockSize;
        (cellW, cellH) = (long)bw * bh <= MaxCell * MaxCell && bw > 0 && bh > 0 ? (bw, bh) : (Math.Min(Math.Max(bw, 1), MaxCell), Math.Min(Math.Max(bh, 1), MaxCell));
        cols = (src.Width + cellW - 1) / cellW;
        state = new byte[(long)cols * ((src.Height + cellH - 1) / cellH)];
    }

    /// <summary>Whether the window (inside the scene) holds no data at all.</summary>
    public bool Empty(int x, int y, int w, int h)
    {
        if (noData.Length == 0) return false;
        for (int cy = y / cellH; cy <= (y + h - 1) / cellH; cy++)
            for (int cx = x / cellW; cx <= (x + w - 1) / cellW; cx++)
                if (!CellEmpty(cx, cy)) return false;
        return true;
    }

    bool CellEmpty(int cx, int cy)
    {
        ref byte s = ref state[(long)cy * cols + cx];
        if (s == 0) s = Check(cx * cellW, cy * cellH) ? (byte)1 : (byte)2;
        return s == 1;
    }

    bool Check(int x, int y)
    {
        int w = Math.Min(cellW, src.Width - x), h = Math.Min(cellH, src.Height - y);
        if (noData.All(nd => src.KnownEmpty(nd.Band, x, y, w, h))) return true;
        if (buffer.Length < w * h) buffer = new float[cellW * cellH];
        var span = buffer.AsSpan(0, w * h);
        foreach (var (band, value) in noData)
        {
            src.Read(x, y, w, h, [band], span);
            bool empty = float.IsNaN(value) ? AllNaN(span) : span.IndexOfAnyExcept(value) < 0;
            if (!empty) return false;
        }
        return true;
    }

    static bool AllNaN(ReadOnlySpan<float> v)
    {
        foreach (var x in v) if (!float.IsNaN(x)) return false;
        return true;
    }
}
