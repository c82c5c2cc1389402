using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
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
        int px = window * window, sw = Width, dx = at.Dx, q0 = Math.Max(0, -dx), q1 = Math.Min(at.Width, sw - dx), n = q1 - q0;
        if (n <= 0) return;
        float[] wx = at.WeightsX, wy = at.WeightsY;
        used = Math.Max(used, at.Height);
        var wrow = n <= 4096 ? stackalloc float[n] : new float[n];
        for (int r = 0; r < at.Height; r++)
        {
            // one row's pixel weights serve every channel; a row with nodata takes the masked loop, so no value is read there
            bool whole = valid.AsSpan(r * window + q0, n).IndexOf((byte)0) < 0;
            TensorPrimitives.Multiply(wx.AsSpan(q0, n), wy[r], wrow);
            int ch = 0;
            for (int l = 0; l < logits.Length; l++)
                for (int c = 0; c < logitCounts[l]; c++, ch++)
                {
                    var src = logits[l].AsSpan((b * logitCounts[l] + c) * px + r * window + q0, n);
                    var dst = acc.AsSpan(ch * window * sw + r * sw + dx + q0, n);
                    if (whole) TensorPrimitives.MultiplyAdd(src, wrow, dst, dst);
                    else for (int q = 0; q < n; q++) if (valid[r * window + q0 + q] != 0) dst[q] += wrow[q] * src[q];
                }
            var ws = wsum.AsSpan(r * sw + dx + q0, n);
            if (whole) TensorPrimitives.Add(ws, wrow, ws);
            else for (int q = 0; q < n; q++) if (valid[r * window + q0 + q] != 0) ws[q] += wrow[q];
        }
    }

    /// <summary>The weight sums of scene rows [from, from + rows): positive where the scene holds data.</summary>
    public ReadOnlySpan<float> Weights(int from, int rows) => wsum.AsSpan((from - RowBase) * Width, rows * Width);

    /// <summary>The blended logits of scene rows [from, from + rows) as [1, K_l, rows, Width] per level (0 where no data).</summary>
    public Tensor[] Blended(int from, int rows)
    {
        int n = rows * Width, off = (from - RowBase) * Width, ch0 = 0;
        var weight = wsum.AsSpan(off, n);
        bool empty = n > 0 && !(TensorPrimitives.Min(weight) > 0); // pixels without data: 0, not 0 / 0
        var logits = new Tensor[logitCounts.Length];
        for (int l = 0; l < logitCounts.Length; l++)
        {
            var t = new float[logitCounts[l] * n];
            for (int c = 0; c < logitCounts[l]; c++)
            {
                var a = acc.AsSpan((ch0 + c) * window * Width + off, n);
                var dst = t.AsSpan(c * n, n);
                TensorPrimitives.Divide(a, weight, dst);
                if (empty) for (int i = 0; i < n; i++) if (!(weight[i] > 0)) dst[i] = 0f;
            }
            logits[l] = Tensor.FromArray(t, 1, logitCounts[l], rows, Width);
            ch0 += logitCounts[l];
        }
        return logits;
    }
}
