namespace HieraRS.Tensors;

/// <summary>
/// Tensor buffers are large arrays the GC only reclaims in full collections, which it schedules by
/// heuristics that let dead activations pile up to several times the live set during training.
/// Counting tensor bytes and collecting after every <see cref="CollectEveryBytes"/> keeps peak
/// memory near the live set; a collection of a heap of few, large objects costs about a millisecond.
/// </summary>
public static class MemoryPressure
{
    static long sinceCollect;

    /// <summary>
    /// Bytes of new tensor storage between forced collections (0 disables). Default 128 MB, or
    /// HIERARS_GC_EVERY_MB from the environment.
    /// </summary>
    public static long CollectEveryBytes { get; set; } =
        long.TryParse(Environment.GetEnvironmentVariable("HIERARS_GC_EVERY_MB"), out var mb) ? mb << 20 : 128L << 20;

    /// <summary>Peak resident memory of this process in MB (VmHWM), NaN where /proc is not available.</summary>
    public static double PeakResidentMegabytes()
    {
        if (!File.Exists("/proc/self/status")) return double.NaN;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    /// <summary>Counts a large buffer allocated outside tensors (e.g. I/O and accumulation arrays) towards the next collection.</summary>
    public static void Allocated(long bytes)
    {
        long limit = CollectEveryBytes;
        if (limit <= 0 || Interlocked.Add(ref sinceCollect, bytes) < limit) return;
        Interlocked.Exchange(ref sinceCollect, 0);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
    }
}
