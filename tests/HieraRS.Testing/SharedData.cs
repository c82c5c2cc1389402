namespace HieraRS.Testing;

/// <summary>Real data beside the repository (../shared, as in CI) and scratch folders for tests.</summary>
public static class SharedData
{
    /// <summary>../shared/data/gid-mtl, found by searching upward from the test's directory.</summary>
    public static string GidRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "shared", "data", "gid-mtl");
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException("shared/data/gid-mtl not found above " + AppContext.BaseDirectory);
    }

    static readonly Dictionary<string, string> unpacked = new();

    /// <summary>
    /// A gzipped fixture (<c>FILE.gz</c>: the checkpoints of an earlier build, mostly zeros, kept small in
    /// git) unpacked once per test process into a temporary folder, byte for byte as it was written.
    /// </summary>
    public static string Unpacked(string gzPath)
    {
        lock (unpacked)
        {
            if (unpacked.TryGetValue(gzPath, out var done)) return done;
            string path = Path.Combine(TempDir("hierars-fixture-"), Path.GetFileNameWithoutExtension(gzPath));
            using (var src = new System.IO.Compression.GZipStream(File.OpenRead(gzPath), System.IO.Compression.CompressionMode.Decompress))
            using (var dst = File.Create(path)) src.CopyTo(dst);
            return unpacked[gzPath] = path;
        }
    }

    /// <summary>A new empty temporary folder.</summary>
    public static string TempDir(string prefix = "hierars-test-") => Directory.CreateTempSubdirectory(prefix).FullName;
}
