namespace HieraRS.Tensors;

/// <summary>
/// Reusable scratch arrays for kernels (im2col columns, chunk transposes). Unlike ArrayPool, which
/// rounds up to powers of two and keeps several arrays per size and core, this keeps a few arrays and
/// hands out the smallest that fits, so scratch memory stays near the largest concurrent need.
/// </summary>
internal static class Scratch
{
    const int MaxKept = 4;
    static readonly List<float[]> free = new();

    public static float[] Rent(int length)
    {
        lock (free)
        {
            int best = -1;
            for (int i = 0; i < free.Count; i++)
                if (free[i].Length >= length && (best < 0 || free[i].Length < free[best].Length)) best = i;
            if (best >= 0)
            {
                var a = free[best];
                free.RemoveAt(best);
                return a;
            }
        }
        return GC.AllocateUninitializedArray<float>(length);
    }

    public static void Return(float[]? array)
    {
        if (array is null) return;
        lock (free)
        {
            free.Add(array);
            if (free.Count > MaxKept)
            {
                // drop the smallest: large buffers are the expensive ones to fault in again
                int smallest = 0;
                for (int i = 1; i < free.Count; i++) if (free[i].Length < free[smallest].Length) smallest = i;
                free.RemoveAt(smallest);
            }
        }
    }
}
