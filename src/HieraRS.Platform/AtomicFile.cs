namespace HieraRS.Platform;

/// <summary>
/// Files written under a temporary name beside the target and renamed into place when complete, so an
/// interrupted or failed write never leaves a partial file at the path (checkpoints, rasters, reports).
/// </summary>
public static class AtomicFile
{
    /// <summary>A hidden temporary name in the target's folder (created if missing), unique to this process.</summary>
    public static string TempPath(string path, string extension = ".tmp")
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp{extension}");
    }

    /// <summary>Runs <paramref name="write"/> on a temporary path, then renames it to <paramref name="path"/>; deletes it on failure.</summary>
    public static void Write(string path, Action<string> write, string extension = ".tmp")
    {
        string tmp = TempPath(path, extension);
        try
        {
            write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllText(string path, string text) => Write(path, tmp =>
    {
        using var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None);
        using (var w = new StreamWriter(fs)) { w.Write(text); w.Flush(); fs.Flush(true); }
    });
}
