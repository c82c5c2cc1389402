using HieraRS.Geo;
using HieraRS.Platform;

namespace HieraRS.Domain.Inference;

/// <summary>
/// The finished parts of a prediction, each its own small GeoTIFF (written whole or not at all) in a
/// partial folder beside the output, so an interruption, kill -9 included, loses at most the part in
/// progress. A signature of the scene, checkpoint and options is kept with them: a later run with the
/// same one continues after the finished parts, any other starts again. Parts are written on a thread of
/// their own, one at a time, while the next row is predicted.
/// </summary>
sealed class PartStore : IDisposable
{
    Task? writing;

    public string Dir { get; }
    /// <summary>Parts finished by earlier runs (parts 0 .. Finished-1).</summary>
    public int Finished { get; }
    /// <summary>There was a partial run with another signature, now discarded.</summary>
    public bool DiscardedOther { get; }

    PartStore(string dir, int finished, bool discarded) => (Dir, Finished, DiscardedOther) = (dir, finished, discarded);

    /// <summary>Where the finished parts of an unfinished prediction of <paramref name="output"/> are kept.</summary>
    public static string PartialDir(string output)
    {
        string full = Path.GetFullPath(output);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.partial");
    }

    /// <summary>
    /// Opens the partial folder of <paramref name="output"/>, discarding its parts unless they were made
    /// with <paramref name="signature"/> and resuming is asked; shared by several workers when
    /// <paramref name="sharing"/> says so (<see cref="OpenShared"/>).
    /// </summary>
    public static PartStore Open(string output, string signature, bool resume, PartSharing sharing = PartSharing.Alone)
    {
        if (sharing != PartSharing.Alone) return OpenShared(output, signature, sharing == PartSharing.MergeOnly);
        string dir = PartialDir(output), signatureFile = Path.Combine(dir, SignatureFile);
        bool other = false;
        if (Directory.Exists(dir) && (!resume || !File.Exists(signatureFile) || File.ReadAllText(signatureFile) != signature))
        {
            other = resume && Directory.EnumerateFiles(dir, "rows_*.tif").Any();
            Directory.Delete(dir, recursive: true);
        }
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(signatureFile, signature);
        return new PartStore(dir, CountFinished(dir), other);
    }

    const string SignatureFile = "signature.txt";

    /// <summary>
    /// The partial folder as several workers share it: created whole with its signature (a rename, so no
    /// worker ever sees it without one), and checked or discarded only under its lock, so workers starting
    /// together keep each other's parts. To merge, the parts must be there with the same signature.
    /// </summary>
    static PartStore OpenShared(string output, string signature, bool merging)
    {
        string dir = PartialDir(output);
        bool other = false;
        while (true)
        {
            if (!Directory.Exists(dir))
            {
                if (merging) throw new InvalidDataException($"{output}: no parts to merge ({dir} does not exist); run the workers first");
                CreateWhole(dir, signature);
            }
            using var held = PartLock.Take(dir);
            if (held is null) continue; // removed meanwhile (finished or discarded): look again
            string file = Path.Combine(dir, SignatureFile);
            if (File.Exists(file) && File.ReadAllText(file) == signature) return new PartStore(dir, CountFinished(dir), other);
            if (merging) throw new InvalidDataException($"{output}: the parts in {dir} were made with another scene, checkpoint or options than this --merge: give it the workers' options");
            other |= Directory.EnumerateFiles(dir, "rows_*.tif").Any();
            Directory.Delete(dir, recursive: true);
        }
    }

    static void CreateWhole(string dir, string signature)
    {
        string tmp = $"{dir}.{Guid.NewGuid():N}.tmp";
        Directory.CreateDirectory(tmp);
        File.WriteAllText(Path.Combine(tmp, SignatureFile), signature);
        try { Directory.Move(tmp, dir); }
        catch (IOException) { Directory.Delete(tmp, recursive: true); } // another worker made it first
    }

    static int CountFinished(string dir)
    {
        int finished = 0;
        while (File.Exists(PathIn(dir, finished))) finished++;
        return finished;
    }

    /// <summary>Whether part <paramref name="unit"/> is written.</summary>
    public bool Has(int unit) => File.Exists(PathIn(Dir, unit));

    static string PathIn(string dir, int unit) => Path.Combine(dir, $"rows_{unit:D6}.tif");

    /// <summary>Starts writing a part (band-sequential bytes at the start of <paramref name="data"/>) once the previous one is written.</summary>
    public void Write(int unit, byte[] data, int width, int height, int bands)
    {
        Flush();
        string path = PathIn(Dir, unit);
        writing = Task.Run(() =>
        {
            // level 1: a part is read back once, by the assembler; compressing it at level 6 took a core's time beside the network
            using var writer = RasterWriter.Create(path, width, height, bands, RasterType.Byte, new GeoTiffOptions { Level = 1 });
            writer.Write(0, 0, width, height, Enumerable.Range(1, bands).ToArray(), data);
            writer.Commit();
        });
    }

    /// <summary>Waits for the part being written, raising its error.</summary>
    public void Flush() => writing?.GetAwaiter().GetResult();

    /// <summary>Reads every band of a finished part into <paramref name="data"/>.</summary>
    public void Read(int unit, int bands, Span<byte> data)
    {
        using var part = Raster.Open(PathIn(Dir, unit));
        part.Read(0, 0, part.Width, part.Height, Enumerable.Range(1, bands).ToArray(), data);
    }

    /// <summary>Removes the folder once the output is complete.</summary>
    public void Delete() => Directory.Delete(Dir, recursive: true);

    /// <summary>Waits for a write in flight; its error, if any, was raised by <see cref="Flush"/> or is lost with the run's own.</summary>
    public void Dispose()
    {
        try { writing?.Wait(); } catch (AggregateException) { }
    }
}

/// <summary>Who writes a partial folder: one run alone, several workers at once, or a merge of what workers wrote.</summary>
enum PartSharing { Alone, Shared, MergeOnly }
