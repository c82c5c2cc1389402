namespace HieraRS.Tensors;

/// <summary>A few large arrays handed back for reuse (<see cref="Tensor.Recycle"/>), taken by exact length.</summary>
static class Recycled
{
    const int MinLength = 1 << 18, MaxKept = 8; // 1 MB and up; a window's scores are 3 arrays
    static readonly List<float[]> kept = [];

    public static void Give(float[] array)
    {
        if (array.Length < MinLength) return;
        lock (kept)
        {
            if (kept.Count == MaxKept) kept.RemoveAt(0);
            kept.Add(array);
        }
    }

    public static float[]? Take(int length)
    {
        if (length < MinLength) return null;
        lock (kept)
        {
            int i = kept.FindIndex(a => a.Length == length);
            if (i < 0) return null;
            var a = kept[i];
            kept.RemoveAt(i);
            return a;
        }
    }
}
