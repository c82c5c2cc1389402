using HieraRS.Platform;
using System.Collections.Concurrent;
using System.Text.Json;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data.Check;

/// <summary>
/// Scans of files kept between runs, each valid while its file keeps its path, size and modification
/// time. One JSON file per folder of data under the cache folder: <c>$HIERARS_CACHE_DIR</c>, else
/// <c>$XDG_CACHE_HOME/hierars</c>, else <c>~/.cache/hierars</c>. A cache that cannot be read is started afresh.
/// </summary>
public sealed class FactCache
{
    sealed record Entry(long Size, long ModifiedTicks, FileFacts Facts);

    readonly ConcurrentDictionary<string, Entry> entries;
    public string Path { get; }
    public int Hits;

    FactCache(string path, ConcurrentDictionary<string, Entry> entries) => (Path, this.entries) = (path, entries);

    public static string DefaultFolder() =>
        Environment.GetEnvironmentVariable("HIERARS_CACHE_DIR") is { Length: > 0 } d ? d
        : System.IO.Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "hierars");

    /// <summary>The cache of the data under <paramref name="dataFolder"/>, in <paramref name="cacheFolder"/> (default: <see cref="DefaultFolder"/>).</summary>
    public static FactCache Open(string dataFolder, string? cacheFolder = null)
    {
        string path = System.IO.Path.Combine(cacheFolder ?? DefaultFolder(), $"check-data-{Datasets.Hash(System.IO.Path.GetFullPath(dataFolder), 0):x16}.json");
        var entries = new ConcurrentDictionary<string, Entry>();
        try
        {
            if (File.Exists(path) && JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllText(path)) is { } saved)
                foreach (var (k, v) in saved)
                    if (v?.Facts is not null) entries[k] = v;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException) { entries.Clear(); }
        return new FactCache(path, entries);
    }

    /// <summary>The cached facts of a file if it is unchanged, else a fresh scan (remembered).</summary>
    public FileFacts Get(string file, Func<string, FileFacts> scan)
    {
        var info = new FileInfo(file);
        (long size, long ticks) = info.Exists ? (info.Length, info.LastWriteTimeUtc.Ticks) : (-1, 0);
        if (entries.TryGetValue(file, out var e) && e.Size == size && e.ModifiedTicks == ticks)
        {
            Interlocked.Increment(ref Hits);
            return e.Facts;
        }
        var facts = scan(file);
        if (size >= 0) entries[file] = new Entry(size, ticks, facts);
        return facts;
    }

    /// <summary>Writes the cache atomically; a cache folder that cannot be written only costs the next run a rescan.</summary>
    public void Save()
    {
        try { AtomicFile.WriteAllText(Path, JsonSerializer.Serialize(entries)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
