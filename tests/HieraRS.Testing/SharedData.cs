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

    // a full test run writes some GB of scenes, checkpoints and maps, under one folder per test process;
    // the folders of processes that have ended are removed by the next test process (the runner ends its
    // test hosts without running their exit handlers, measured), and this one's at its exit when that runs
    static readonly string root = Path.Combine(Path.GetTempPath(), "hierars-tests");
    static readonly string mine = Path.Combine(root, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

    static SharedData()
    {
        RemoveEnded();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Remove(mine);
    }

    /// <summary>A new empty temporary folder, removed with everything in it once the test process has ended (HIERARS_KEEP_TEST_DIRS=1 keeps them).</summary>
    public static string TempDir(string prefix = "hierars-test-")
    {
        Directory.CreateDirectory(mine);
        string dir = Path.Combine(mine, prefix + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    static void RemoveEnded()
    {
        if (!Directory.Exists(root)) return;
        foreach (var dir in Directory.EnumerateDirectories(root))
            if (int.TryParse(Path.GetFileName(dir), out int pid) && pid != Environment.ProcessId && !Alive(pid)) Remove(dir);
    }

    static bool Alive(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static void Remove(string dir)
    {
        if (Environment.GetEnvironmentVariable("HIERARS_KEEP_TEST_DIRS") == "1") return;
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { } // a file still held: left for a later run
        catch (UnauthorizedAccessException) { }
    }
}
