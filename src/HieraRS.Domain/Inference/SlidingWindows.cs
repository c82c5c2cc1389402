namespace HieraRS.Domain.Inference;

/// <summary>How overlapping windows are weighted where they meet.</summary>
public enum BlendMode { Cosine, Linear, None }

/// <summary>
/// The window grid of a sliding-window prediction along one axis (MMSegmentation's "slide": a stride of
/// window - overlap, the last window moved back to end at the edge), and the blending weights that make
/// window borders leave no seams: a window's weight falls from 1 in its middle towards its ends only
/// where it overlaps a neighbour, so every pixel's weights sum to a positive value and no data is lost
/// at the scene edge.
/// </summary>
public static class SlidingWindows
{
    /// <summary>Start offsets of windows of <paramref name="window"/> pixels covering [0, size).</summary>
    public static int[] Starts(int size, int window, int overlap)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), "the window must be at least 1 pixel");
        if (overlap < 0 || overlap >= window) throw new ArgumentOutOfRangeException(nameof(overlap), $"overlap {overlap} must be in [0, {window})");
        if (size <= window) return [0];
        int stride = window - overlap;
        int n = (size - window + stride - 1) / stride + 1;
        return Enumerable.Range(0, n).Select(i => Math.Min(i * stride, size - window)).ToArray();
    }

    /// <summary>
    /// Per-pixel weight along one axis for the window starting at <paramref name="start"/> (length
    /// <paramref name="window"/>, clipped to the scene): a ramp over the overlap with the previous window
    /// and over the overlap with the next one (raised cosine or linear), 1 elsewhere; None: all 1.
    /// </summary>
    public static float[] Weights(int[] starts, int index, int window, int size, BlendMode mode)
    {
        int start = starts[index], len = Math.Min(window, size - start);
        var w = new float[len];
        Array.Fill(w, 1f);
        if (mode == BlendMode.None) return w;
        int before = index > 0 ? starts[index - 1] + window - start : 0;                  // pixels shared with the previous window
        int after = index + 1 < starts.Length ? start + len - starts[index + 1] : 0;      // pixels shared with the next one
        for (int i = 0; i < len; i++)
        {
            float r = 1f;
            if (i < before) r = MathF.Min(r, Ramp((i + 0.5f) / before, mode));
            if (i >= len - after) r = MathF.Min(r, Ramp((len - i - 0.5f) / after, mode));
            w[i] = r;
        }
        return w;
    }

    static float Ramp(float t, BlendMode mode) => mode == BlendMode.Cosine ? 0.5f - 0.5f * MathF.Cos(MathF.PI * t) : t;

    /// <summary>Index of a reflected coordinate (PyTorch's "reflect" padding: the edge pixel is not repeated).</summary>
    public static int Reflect(int i, int size)
    {
        if (size == 1) return 0;
        int period = 2 * (size - 1);
        i = ((i % period) + period) % period;
        return i < size ? i : period - i;
    }
}
