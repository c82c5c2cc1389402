using System.Runtime.InteropServices;

namespace HieraRS.Geo;

/// <summary>
/// Whether two paths name the same file: the same device and inode when both exist (a different
/// spelling, a symlink, a hard link), otherwise the same fully resolved path.
/// </summary>
public static unsafe partial class FileIdentity
{
    public static bool Same(string a, string b)
    {
        if (Id(a) is { } ia && Id(b) is { } ib) return ia == ib;
        return string.Equals(Resolve(a), Resolve(b), StringComparison.Ordinal);
    }

    /// <summary>Whether <paramref name="path"/> lies inside folder <paramref name="dir"/> (symlinks resolved).</summary>
    public static bool Inside(string path, string dir)
    {
        string d = Resolve(dir).TrimEnd('/') + "/";
        return Resolve(path).StartsWith(d, StringComparison.Ordinal);
    }

    /// <summary>The absolute path with every symlink of its existing part resolved.</summary>
    public static string Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        var rest = new Stack<string>();
        while (!File.Exists(full) && !Directory.Exists(full) && Path.GetDirectoryName(full) is { } parent)
        {
            rest.Push(Path.GetFileName(full));
            full = parent;
        }
        string real = RealPath(full) ?? full;
        while (rest.Count > 0) real = Path.Combine(real, rest.Pop());
        return real;
    }

    static string? RealPath(string path)
    {
        if (OperatingSystem.IsWindows()) return Path.GetFullPath(path);
        var p = realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { Marshal.FreeHGlobal(p); }
    }

    /// <summary>(device, inode) of an existing file, following symlinks; null when it does not exist or stat is unavailable.</summary>
    static (ulong Dev, ulong Ino)? Id(string path)
    {
        if (OperatingSystem.IsWindows() || !(File.Exists(path) || Directory.Exists(path))) return null;
        // struct stat starts with st_dev and st_ino (8 bytes each) on x86-64 and aarch64 Linux
        var buf = stackalloc byte[256];
        try
        {
            if (stat(path, buf) != 0) return null;
        }
        catch (EntryPointNotFoundException) { return null; } // glibc before 2.33 exports __xstat only: resolved paths decide
        return (*(ulong*)buf, *(ulong*)(buf + 8));
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)] private static partial int stat(string path, byte* buf);
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)] private static partial IntPtr realpath(string path, IntPtr resolved);
}
