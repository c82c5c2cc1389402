namespace HieraRS.Tensors;

/// <summary>Iteration over strided layouts: rows of the last (coalesced) dimension.</summary>
internal static class Strided
{
    /// <summary>Merges adjacent dims that are contiguous with respect to every stride set.</summary>
    public static (int[] Shape, int[][] Strides) Coalesce(ReadOnlySpan<int> shape, params int[][] strides)
    {
        var sh = new List<int>(); var st = strides.Select(_ => new List<int>()).ToArray();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            int last = sh.Count - 1;
            bool merge = last >= 0;
            for (int k = 0; k < strides.Length && merge; k++)
                merge = st[k][last] == strides[k][d] * shape[d];
            if (merge)
            {
                sh[last] *= shape[d];
                for (int k = 0; k < strides.Length; k++) st[k][last] = strides[k][d];
            }
            else
            {
                sh.Add(shape[d]);
                for (int k = 0; k < strides.Length; k++) st[k].Add(strides[k][d]);
            }
        }
        if (sh.Count == 0) { sh.Add(1); foreach (var l in st) l.Add(1); }
        return (sh.ToArray(), st.Select(l => l.ToArray()).ToArray());
    }

    /// <summary>Offset of row <paramref name="row"/> (index over all dims but the last).</summary>
    public static int RowOffset(int row, int[] shape, int[] strides)
    {
        int o = 0;
        for (int d = shape.Length - 2; d >= 0; d--)
        {
            int i = row % shape[d];
            row /= shape[d];
            o += i * strides[d];
        }
        return o;
    }

    /// <summary>Copies a tensor's elements into a contiguous span in row-major order.</summary>
    public static void CopyTo(Tensor src, Span<float> dst)
    {
        if (src.IsContiguous) { src.Storage.AsSpan(src.Offset, src.Numel).CopyTo(dst); return; }
        var (shape, st) = Coalesce(src.Shape, src.Strides.ToArray());
        int[] s = st[0];
        int inner = shape[^1], innerStride = s[^1], rows = src.Numel / inner;
        float[] storage = src.Storage; int off = src.Offset;
        unsafe
        {
            fixed (float* pd = dst)
            {
                float* d = pd;
                Engine.For(rows, inner, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        int so = off + RowOffset(r, shape, s);
                        float* drow = d + (long)r * inner;
                        if (innerStride == 1) storage.AsSpan(so, inner).CopyTo(new Span<float>(drow, inner));
                        else if (innerStride == 0) new Span<float>(drow, inner).Fill(storage[so]);
                        else for (int i = 0; i < inner; i++) drow[i] = storage[so + i * innerStride];
                    }
                });
            }
        }
    }
}
