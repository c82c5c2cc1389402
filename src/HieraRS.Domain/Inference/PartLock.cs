namespace HieraRS.Domain.Inference;

/// <summary>
/// The lock of a partial folder shared by several workers (a file in it opened exclusively: an flock on
/// Linux, released by the system when its holder dies, so a killed worker never leaves it taken).
/// Held briefly to check or discard the folder, and while the last worker assembles the output.
/// </summary>
sealed class PartLock : IDisposable
{
    /// <summary>The lock is held elsewhere: EWOULDBLOCK from flock on Linux (11) and macOS (35), a sharing violation on Windows.</summary>
    static bool Held(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);

    readonly FileStream file;

    PartLock(FileStream file) => this.file = file;

    /// <summary>Waits for the lock of <paramref name="dir"/>; null when the folder is gone (assembled or discarded by its holder).</summary>
    public static PartLock? Take(string dir)
    {
        for (int wait = 10; ; wait = Math.Min(wait * 2, 1000))
        {
            try
            {
                var fs = new FileStream(Path.Combine(dir, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                if (Directory.Exists(dir)) return new PartLock(fs);
                fs.Dispose(); // its folder was removed while we waited
                return null;
            }
            catch (DirectoryNotFoundException) { return null; }
            catch (FileNotFoundException) { return null; }
            catch (IOException e) when (Held(e)) { Thread.Sleep(wait); } // held by another worker
        }
    }

    public void Dispose() => file.Dispose();
}
