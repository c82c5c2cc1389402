namespace HieraRS.Tensors;

/// <summary>Shape arithmetic shared by every op.</summary>
public static class ShapeUtil
{
    public static int Numel(ReadOnlySpan<int> shape)
    {
        int n = 1;
        foreach (var s in shape) n *= s;
        return n;
    }

    public static int CheckedNumel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var s in shape)
        {
            if (s < 0) throw new ArgumentException($"negative size in shape {Format(shape)}");
            n *= s;
            if (n > Array.MaxLength) throw new ArgumentException($"shape {Format(shape)} has too many elements for one tensor");
        }
        return (int)n;
    }

    public static int NormDim(int dim, int rank)
    {
        int d = dim < 0 ? dim + rank : dim;
        if ((uint)d >= (uint)Math.Max(rank, 1) || (rank == 0 && d != 0))
            throw new ArgumentOutOfRangeException(nameof(dim), $"dim {dim} out of range for rank {rank}");
        return d;
    }

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>NumPy/PyTorch broadcast of two shapes.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes {Format(a)} and {Format(b)} cannot be broadcast together (dim {i}: {da} vs {db})");
            o[i] = da == 1 ? db : da;
        }
        return o;
    }

    /// <summary>(outer, size, inner) for a contiguous tensor split at <paramref name="dim"/>.</summary>
    public static (int Outer, int Size, int Inner) Split3(ReadOnlySpan<int> shape, int dim)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[dim], inner);
    }

    /// <summary>Resolves a single -1 in a requested shape.</summary>
    public static int[] Infer(ReadOnlySpan<int> requested, int numel)
    {
        var s = requested.ToArray();
        int unknown = -1, known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1)
            {
                if (unknown >= 0) throw new ArgumentException($"only one -1 allowed in shape {Format(requested)}");
                unknown = i;
            }
            else known *= s[i];
        }
        if (unknown >= 0)
        {
            if (known == 0 || numel % known != 0) throw new ArgumentException($"shape {Format(requested)} does not fit {numel} elements");
            s[unknown] = numel / known;
        }
        if (Numel(s) != numel) throw new ArgumentException($"shape {Format(requested)} does not fit {numel} elements");
        return s;
    }
}
