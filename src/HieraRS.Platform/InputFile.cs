namespace HieraRS.Platform;

/// <summary>
/// Files a user names as input (checkpoints, configs, trees, lists, rasters), checked where they are
/// opened so every command gives the same clear answer: a missing path, a folder or a file beyond a
/// size bound is an error naming it, never "access denied" or a parser's failure.
/// </summary>
public static class InputFile
{
    /// <summary>Throws unless <paramref name="path"/> is an existing file of at most <paramref name="maxBytes"/> bytes; <paramref name="what"/> names the kind in errors.</summary>
    public static FileInfo Check(string path, string what = "file", long maxBytes = long.MaxValue)
    {
        if (Directory.Exists(path)) throw new FileNotFoundException($"{path}: is a folder, not a {what}", path);
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: no such {what}", path);
        if (info.Length > maxBytes)
            throw new InvalidDataException($"{path}: {info.Length:N0} bytes is too large for a {what} (at most {maxBytes:N0})");
        return info;
    }

    /// <summary>The whole text of a checked file.</summary>
    public static string ReadAllText(string path, string what, long maxBytes)
    {
        Check(path, what, maxBytes);
        return File.ReadAllText(path);
    }

    /// <summary>A checked file opened for reading (shared with other readers).</summary>
    public static FileStream OpenRead(string path, string what, int bufferSize = 4096)
    {
        Check(path, what);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize);
    }
}
