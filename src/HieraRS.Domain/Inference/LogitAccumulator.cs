using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>
/// The blended logits of the rows of a strip that windows still touch: per channel a plane of
/// window x strip-width floats, weighted sums, and the sum of the weights per pixel (positive exactly
/// where the scene holds data). Rows move up as the windows move down the strip. One set serves every
/// strip (a new one per strip would keep the last one alive until a collection).
/// </summary>
sealed class LogitAccumulator(int[] logitCounts, int window, int maxWidth)
{
    readonly int channels = logitCounts.Sum();
    readonly float[] acc = new float[logitCounts.Sum() * window * maxWidth]; // [channel][row][column < Width]
    readonly float[] wsum = new float[window * maxWidth];

    /// <summary>The current strip's width.</summary>
    public int Width { get; private set; }
    /// <summary>The scene row of accumulator row 0.</summary>
    public int RowBase { get; private set; }

    /// <summary>Accumulator rows 0 .. used-1 may hold sums; the rows below are zero (empty areas of a scene move and clear nothing).</summary>
    int used;

    public void StartStrip(int width)
    {
        Clear(0, used); // in the last strip's layout: the rest is zero, in any layout
        Width = width;
        used = 0;
        RowBase = 0;
    }

    /// <summary>Moves row <paramref name="y0"/> to accumulator row 0 (the rows above, already written, leave).</summary>
    public void MoveTo(int y0)
    {
        int rows = y0 - RowBase;
        RowBase = y0;
        if (rows <= 0) return;
        int keep = Math.Max(used - rows, 0), plane = window * Width;
        if (keep > 0)
            for (int c = 0; c <= channels; c++)
            {
                var a = c < channels ? acc.AsSpan(c * plane, plane) : wsum.AsSpan(0, plane);
                a.Slice(rows * Width, keep * Width).CopyTo(a);
            }
        Clear(keep, used);
        used = keep;
    }

    /// <summary>Zeroes accumulator rows [from, to) of every channel (laid out for the current width).</summary>
    void Clear(int from, int to)
    {
        if (to <= from) return;
        int plane = window * Width;
        for (int c = 0; c <= channels; c++)
            (c < channels ? acc.AsSpan(c * plane, plane) : wsum.AsSpan(0, plane)).Slice(from * Width, (to - from) * Width).Clear();
    }

    /// <summary>
    /// Adds window <paramref name="b"/> of the batch (logits[l]: [batch, K_l, window, window]), weighted,
    /// at its valid pixels only, at accumulator row 0.
    /// </summary>
    public void Add(float[][] logits, int b, WindowPlacement at, byte[] valid)
    {
        int px = window * window, ch0 = 0, sw = Width, dx = at.Dx, q0 = Math.Max(0, -dx), q1 = Math.Min(at.Width, sw - dx);
        float[] wx = at.WeightsX, wy = at.WeightsY;
        used = Math.Max(used, at.Height);
        for (int l = 0; l < logits.Length; l++)
        {
            int kl = logitCounts[l];
            for (int c = 0; c < kl; c++)
            {
                var src = logits[l].AsSpan((b * kl + c) * px, px);
                var dst = acc.AsSpan((ch0 + c) * window * sw, window * sw);
                for (int r = 0; r < at.Height; r++)
                {
                    float wr = wy[r];
                    for (int q = q0; q < q1; q++)
                        if (valid[r * window + q] != 0) dst[r * sw + dx + q] += wr * wx[q] * src[r * window + q];
                }
            }
            ch0 += kl;
        }
        for (int r = 0; r < at.Height; r++)
            for (int q = q0; q < q1; q++)
                if (valid[r * window + q] != 0) wsum[r * sw + dx + q] += wy[r] * wx[q];
    }

    /// <summary>The weight sums of scene rows [from, from + rows): positive where the scene holds data.</summary>
    public ReadOnlySpan<float> Weights(int from, int rows) => wsum.AsSpan((from - RowBase) * Width, rows * Width);

    /// <summary>The blended logits of scene rows [from, from + rows) as [1, K_l, rows, Width] per level (0 where no data).</summary>
    public Tensor[] Blended(int from, int rows)
    {
        int n = rows * Width, off = (from - RowBase) * Width, ch0 = 0;
        var weight = wsum.AsSpan(off, n);
        var logits = new Tensor[logitCounts.Length];
        for (int l = 0; l < logitCounts.Length; l++)
        {
            var t = new float[logitCounts[l] * n];
            for (int c = 0; c < logitCounts[l]; c++)
            {
                var a = acc.AsSpan((ch0 + c) * window * Width + off, n);
                for (int i = 0; i < n; i++) t[c * n + i] = weight[i] > 0 ? a[i] / weight[i] : 0f;
            }
            logits[l] = Tensor.FromArray(t, 1, logitCounts[l], rows, Width);
            ch0 += logitCounts[l];
        }
        return logits;
    }
}
