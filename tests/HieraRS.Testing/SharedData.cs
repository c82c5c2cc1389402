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

    /// <summary>A new empty temporary folder.</summary>
    public static string TempDir(string prefix = "hierars-test-") => Directory.CreateTempSubdirectory(prefix).FullName;
}
