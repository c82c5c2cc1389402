using System.Collections.Concurrent;
using HieraRS.Domain.Data;
using HieraRS.Geo;
using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>A window read, padded and normalised: its column in the grid, its bands, and where it holds data.</summary>
sealed record ReadWindow(int Col, float[] Image, byte[] Valid);

/// <summary>Windows read for one forward pass (skipped all-nodata windows are counted, not kept).</summary>
sealed record WindowBatch(List<ReadWindow> Windows, int Skipped, int Count);

/// <summary>A batch to read: window columns of the grid, and the scene row the windows start at.</summary>
readonly record struct BatchRequest(int[] Cols, int Y0);

/// <summary>
/// Reads the windows of a run on a thread of its own, up to two batches ahead of the network: each
/// window of every band reflection-padded beyond the scene to the window size, nodata pixels set to 0
/// (the mean, once normalised), normalised with the checkpoint's statistics. Windows that hold no data
/// are skipped: by block (<see cref="EmptyBlocks"/>) before reading, or pixel by pixel once read.
/// </summary>
sealed class WindowReader : IDisposable
{
    readonly Raster src;
    readonly StripPlan plan;
    readonly Normalization norm;
    readonly double?[] noData;
    readonly int[] bandList;
    readonly EmptyBlocks empty;
    readonly CancellationTokenSource stop = new();
    readonly BlockingCollection<WindowBatch> queue = new(boundedCapacity: 2);
    readonly Task reader;

    public WindowReader(Raster src, StripPlan plan, Normalization norm, IEnumerable<BatchRequest> requests)
    {
        (this.src, this.plan, this.norm, noData) = (src, plan, norm, src.NoData);
        bandList = Enumerable.Range(1, src.BandCount).ToArray();
        empty = new EmptyBlocks(src);
        reader = Task.Run(() => Engine.Serial(() => { ReadAll(requests); return 0; }));
    }

    void ReadAll(IEnumerable<BatchRequest> requests)
    {
        try
        {
            foreach (var r in requests) queue.Add(ReadBatch(r), stop.Token);
        }
        catch (OperationCanceledException) { }
        finally { queue.CompleteAdding(); }
    }

    /// <summary>The next batch, in the order requested.</summary>
    public WindowBatch Next()
    {
        if (queue.TryTake(out var batch, Timeout.Infinite)) return batch;
        reader.GetAwaiter().GetResult(); // the reader stopped early: raise its error
        throw new InvalidOperationException($"{src.Path}: the window reader stopped early");
    }

    /// <summary>Waits for the reader to end, raising its error.</summary>
    public void Finish() => reader.GetAwaiter().GetResult();

    WindowBatch ReadBatch(BatchRequest r)
    {
        var windows = new List<ReadWindow>();
        int skipped = 0;
        foreach (var ci in r.Cols)
        {
            // windows over empty blocks only are skipped before any pixel is read
            int x0 = plan.Xs[ci];
            if (empty.Empty(x0, r.Y0, Math.Min(plan.Window, src.Width - x0), Math.Min(plan.Window, src.Height - r.Y0))) { skipped++; continue; }
            var (img, valid, anyValid) = Read(x0, r.Y0);
            if (!anyValid) { skipped++; continue; }
            norm.Apply(img, plan.Window * plan.Window, valid);
            windows.Add(new ReadWindow(ci, img, valid));
        }
        return new WindowBatch(windows, skipped, r.Cols.Length);
    }

    /// <summary>One window of every band, padded, nodata set to 0; its valid mask; whether any pixel holds data.</summary>
    (float[] Image, byte[] Valid, bool AnyValid) Read(int x0, int y0)
    {
        int win = plan.Window, bands = bandList.Length;
        int w = Math.Min(win, src.Width - x0), h = Math.Min(win, src.Height - y0);
        var raw = new float[bands * w * h];
        src.Read(x0, y0, w, h, bandList, raw);
        var inScene = TileDataset.ValidMask(raw, w * h, noData);
        bool any = inScene.AsSpan().IndexOf((byte)1) >= 0;
        var img = new float[bands * win * win];
        var valid = new byte[win * win];
        for (int r = 0; r < win; r++)
        {
            int sr = SlidingWindows.Reflect(r, h);
            for (int c = 0; c < win; c++)
            {
                int sc = SlidingWindows.Reflect(c, w), s = sr * w + sc;
                valid[r * win + c] = inScene[s];
                if (inScene[s] != 0)
                    for (int b = 0; b < bands; b++) img[(b * win + r) * win + c] = raw[b * h * w + s];
            }
        }
        return (img, valid, any);
    }

    /// <summary>Stops reading ahead and waits for the reader; its error, if any, was raised by <see cref="Next"/> or <see cref="Finish"/>.</summary>
    public void Dispose()
    {
        stop.Cancel();
        try { reader.Wait(); } catch (AggregateException) { }
        queue.Dispose();
        stop.Dispose();
    }
}
