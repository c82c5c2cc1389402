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
    /// Adds a window's scores (or the columns of it a seam left, <see cref="WindowScores.Col0"/> on),
    /// weighted, at its valid pixels only, at accumulator row 0.
    /// </summary>
    public void Add(WindowScores w, WindowPlacement at)
    {
        int sw = Width, dx = at.Dx, q0 = Math.Max(w.Col0, -dx), q1 = Math.Min(at.Width, sw - dx), n = q1 - q0;
        if (n <= 0) return;
        int stride = w.Width, plane = window * stride, s0 = q0 - w.Col0; // source column of q0
        float[] wx = at.WeightsX, wy = at.WeightsY;
        byte[] valid = w.Valid;
        used = Math.Max(used, at.Height);
        var wrow = n <= 4096 ? stackalloc float[n] : new float[n];
        for (int r = 0; r < at.Height; r++)
        {
            // one row's pixel weights serve every channel; a row with nodata takes the masked loop, so no value is read there
            var mask = valid.AsSpan(r * stride + s0, n);
            bool whole = mask.IndexOf((byte)0) < 0;
            TensorPrimitives.Multiply(wx.AsSpan(q0, n), wy[r], wrow);
            int ch = 0;
            for (int l = 0; l < w.Levels.Length; l++)
                for (int c = 0; c < logitCounts[l]; c++, ch++)
                {
                    var src = w.Levels[l].AsSpan((w.Index * logitCounts[l] + c) * plane + r * stride + s0, n);
                    var dst = acc.AsSpan(ch * window * sw + r * sw + dx + q0, n);
                    if (whole) TensorPrimitives.MultiplyAdd(src, wrow, dst, dst);
                    else for (int q = 0; q < n; q++) if (mask[q] != 0) dst[q] += wrow[q] * src[q];
                }
            var ws = wsum.AsSpan(r * sw + dx + q0, n);
            if (whole) TensorPrimitives.Add(ws, wrow, ws);
            else for (int q = 0; q < n; q++) if (mask[q] != 0) ws[q] += wrow[q];
        }
    }

    /// <summary>The weight sums of scene rows [from, from + rows): positive where the scene holds data.</summary>
    public ReadOnlySpan<float> Weights(int from, int rows) => wsum.AsSpan((from - RowBase) * Width, rows * Width);

    /// <summary>The blended logits of scene rows [from, from + rows) as [1, K_l, rows, Width] per level (0 where no data).</summary>
    public Tensor[] Blended(int from, int rows)
    {
        int n = rows * Width, ch0 = 0;
        var logits = new Tensor[logitCounts.Length];
        for (int l = 0; l < logitCounts.Length; l++)
        {
            var t = new float[logitCounts[l] * n];
            for (int c = 0; c < logitCounts[l]; c++) BlendedInto(ch0 + c, from, 0, t.AsSpan(c * n, n));
            logits[l] = Tensor.FromArray(t, 1, logitCounts[l], rows, Width);
            ch0 += logitCounts[l];
        }
        return logits;
    }

    /// <summary>
    /// The blended logits of one channel (the levels' channels in order) at pixels [start, start + dst.Length)
    /// of the rows from scene row <paramref name="from"/> on, row-major; 0 where no data.
    /// </summary>
    public void BlendedInto(int channel, int from, int start, Span<float> dst)
    {
        int off = (from - RowBase) * Width + start;
        var weight = wsum.AsSpan(off, dst.Length);
        TensorPrimitives.Divide(acc.AsSpan(channel * window * Width + off, dst.Length), weight, dst);
        if (!(TensorPrimitives.Min(weight) > 0)) // pixels without data: 0, not 0 / 0
            for (int i = 0; i < dst.Length; i++) if (!(weight[i] > 0)) dst[i] = 0f;
    }
}
