using HieraRS.Platform;

namespace HieraRS.Domain.Inference;

/// <summary>
/// The scores of a window, or of its right-hand columns from <see cref="Col0"/> on: per level
/// [windows, K_l, rows, Width] with window <see cref="Index"/>, and where it holds data ([rows, Width]).
/// </summary>
readonly record struct WindowScores(float[][] Levels, int Index, byte[] Valid, int Width, int Col0);

/// <summary>
/// Windows at a strip seam are needed by both strips: the left strip computes them and leaves the columns
/// that lie in the right strip here, one file per window in the partial output's folder, for the right
/// strip to take instead of computing them again (10 % of the windows of a 4096² scene in 3072-column
/// strips). Files, not memory: the right strip starts after the whole left strip, so a tall scene leaves
/// one slice per row of windows. A slice that is missing (a resumed run, another worker's strip) is
/// computed as before; the network gives the same scores either way, so the map does not change.
/// </summary>
sealed class SeamCache(string dir, int[] logitCounts, int window)
{
    readonly string folder = Path.Combine(dir, "seams");

    string PathOf(int strip, int row, int col) => Path.Combine(folder, $"s{strip:D4}_r{row:D5}_c{col:D5}.bin");

    /// <summary>Leaves columns [col0, window) of window <paramref name="w"/> for strip <paramref name="strip"/>.</summary>
    public void Put(int strip, int row, int col, WindowScores w, int col0)
    {
        Directory.CreateDirectory(folder);
        int width = window - col0, px = window * window;
        AtomicFile.Write(PathOf(strip, row, col), tmp =>
        {
            using var bw = new BinaryWriter(File.Create(tmp));
            bw.Write(width);
            var rowBuf = new byte[width * sizeof(float)];
            for (int l = 0; l < logitCounts.Length; l++)
                for (int c = 0; c < logitCounts[l]; c++)
                    for (int r = 0; r < window; r++)
                    {
                        Buffer.BlockCopy(w.Levels[l], ((w.Index * logitCounts[l] + c) * px + r * window + col0) * sizeof(float), rowBuf, 0, rowBuf.Length);
                        bw.Write(rowBuf);
                    }
            for (int r = 0; r < window; r++) bw.Write(w.Valid, r * window + col0, width);
        });
    }

    /// <summary>The slice left for this strip's window, removed from the cache; null when there is none.</summary>
    public WindowScores? Take(int strip, int row, int col)
    {
        string file = PathOf(strip, row, col);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        File.Delete(file);
        int width = BitConverter.ToInt32(bytes, 0), at = sizeof(int);
        var levels = new float[logitCounts.Length][];
        for (int l = 0; l < levels.Length; l++)
        {
            levels[l] = new float[logitCounts[l] * window * width];
            Buffer.BlockCopy(bytes, at, levels[l], 0, levels[l].Length * sizeof(float));
            at += levels[l].Length * sizeof(float);
        }
        var valid = bytes.AsSpan(at, window * width).ToArray();
        return new WindowScores(levels, 0, valid, width, window - width);
    }
}
