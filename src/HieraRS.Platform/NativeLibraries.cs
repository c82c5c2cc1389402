using System.Reflection;
using System.Runtime.InteropServices;

namespace HieraRS.Platform;

/// <summary>
/// A native library we P/Invoke: the short name the imports use, the file names to try in order (Debian's
/// versioned sonames, so that a plain runtime package without the -dev symlink is enough) and the Debian
/// package that provides it, named when none loads.
/// </summary>
public sealed record NativeLibraryInfo(string Name, string Package, params string[] Candidates);

/// <summary>Resolves the native libraries each assembly declares (<see cref="Register"/>) and loads each once.</summary>
public static class NativeLibraries
{
    static readonly Dictionary<string, NativeLibraryInfo> Known = new();
    static readonly Dictionary<string, IntPtr> Loaded = new();
    static readonly HashSet<Assembly> Registered = new();

    // every native library loads through here, and GDAL links OpenBLAS too: its kernels are named first
    static NativeLibraries() => OpenBlasEnvironment.Prepare();

    /// <summary>Declares <paramref name="library"/> and resolves <paramref name="assembly"/>'s imports of its name through it (idempotent).</summary>
    public static void Register(Assembly assembly, NativeLibraryInfo library)
    {
        lock (Registered)
        {
            lock (Known) Known[library.Name] = library;
            if (!Registered.Add(assembly)) return;
            NativeLibrary.SetDllImportResolver(assembly, (name, asm, path) =>
                Declared(name) is { } lib && TryLoad(lib, out var h) ? h : IntPtr.Zero);
        }
    }

    static NativeLibraryInfo? Declared(string name)
    {
        lock (Known) return Known.GetValueOrDefault(name);
    }

    /// <summary>Loads the library from the first candidate that loads, or returns false.</summary>
    public static bool TryLoad(NativeLibraryInfo library, out IntPtr handle)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(library.Name, out handle)) return handle != IntPtr.Zero;
            handle = IntPtr.Zero;
            foreach (var candidate in library.Candidates)
                if (NativeLibrary.TryLoad(candidate, out handle)) break;
            Loaded[library.Name] = handle;
            return handle != IntPtr.Zero;
        }
    }

    /// <summary>Loads the library or throws naming the Debian package that provides it.</summary>
    public static IntPtr Load(NativeLibraryInfo library)
    {
        if (TryLoad(library, out var h)) return h;
        throw new DllNotFoundException(
            $"native library '{library.Name}' not found (tried {string.Join(", ", library.Candidates)}); " +
            $"install it with: sudo apt-get install {library.Package}");
    }
}
