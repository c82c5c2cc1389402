using System.Reflection;
using System.Runtime.InteropServices;

namespace HieraRS.Tensors.Native;

/// <summary>
/// Resolves Debian's versioned sonames for the native libraries we P/Invoke, so that a plain
/// runtime package (no -dev symlink) is enough, and fails with the package name to install.
/// </summary>
public static class NativeLibraries
{
    static readonly Dictionary<string, (string[] Candidates, string Package)> Known = new()
    {
        ["openblas"] = (new[]
        {
            "libopenblas.so.0", "libopenblas.so",
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "libopenblasp-r0.3.21.so",
        }, "libopenblas0-pthread"),
        ["gdal"] = (new[]
        {
            "libgdal.so.32", "libgdal.so.34", "libgdal.so.35", "libgdal.so.36", "libgdal.so.33",
            "libgdal.so.31", "libgdal.so.30", "libgdal.so",
        }, "libgdal32"),
    };

    static readonly Dictionary<string, IntPtr> Loaded = new();
    static readonly HashSet<Assembly> Registered = new();

    /// <summary>Registers the resolver for <paramref name="assembly"/> (idempotent).</summary>
    public static void Register(Assembly assembly)
    {
        lock (Registered)
        {
            if (!Registered.Add(assembly)) return;
            NativeLibrary.SetDllImportResolver(assembly, (name, asm, path) =>
                Known.ContainsKey(name) && TryLoad(name, out var h) ? h : IntPtr.Zero);
        }
    }

    /// <summary>Loads a known library by its short name, or returns false.</summary>
    public static bool TryLoad(string name, out IntPtr handle)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(name, out handle)) return handle != IntPtr.Zero;
            handle = IntPtr.Zero;
            foreach (var candidate in Known[name].Candidates)
                if (NativeLibrary.TryLoad(candidate, out handle)) break;
            Loaded[name] = handle;
            return handle != IntPtr.Zero;
        }
    }

    /// <summary>Loads a known library or throws naming the Debian package that provides it.</summary>
    public static IntPtr Load(string name)
    {
        if (TryLoad(name, out var h)) return h;
        var (candidates, package) = Known[name];
        throw new DllNotFoundException(
            $"native library '{name}' not found (tried {string.Join(", ", candidates)}); " +
            $"install it with: sudo apt-get install {package}");
    }
}
