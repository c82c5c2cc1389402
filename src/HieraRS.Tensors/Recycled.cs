namespace HieraRS.Tensors;

/// <summary>
/// Large arrays handed back for reuse (<see cref="Tensor.Recycle"/>, <see cref="Tensor.Release"/>), taken by
/// exact length; the oldest leave first beyond 256 MB kept (a batch of two demo windows keeps about 150 MB).
/// </summary>
static class Recycled
{
    const int MinLength = 1 << 18; // 1 MB and up
    const long MaxKeptFloats = 64L << 20;
    static readonly List<float[]> kept = [];
    static long keptFloats;

    public static void Give(float[] array)
    {
        if (array.Length < MinLength) return;
        lock (kept)
        {
            if (kept.Exists(a => ReferenceEquals(a, array))) return; // handed back twice: kept once
            kept.Add(array);
            keptFloats += array.Length;
            while (keptFloats > MaxKeptFloats) { keptFloats -= kept[0].Length; kept.RemoveAt(0); }
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
            keptFloats -= a.Length;
            return a;
        }
    }
}
