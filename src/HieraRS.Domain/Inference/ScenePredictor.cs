using System.Collections.Concurrent;
using HieraRS.Domain.Decoding;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.Geo;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>Options of a whole-scene prediction.</summary>
public sealed record PredictOptions
{
    public int Window { get; init; } = 512;
    /// <summary>Pixels shared by neighbouring windows.</summary>
    public int Overlap { get; init; } = 64;
    /// <summary>Windows per forward pass.</summary>
    public int Batch { get; init; } = 1;
    public BlendMode Blend { get; init; } = BlendMode.Cosine;
    /// <summary>Test-time augmentation: none, flip (horizontal), d4 (the 8 flips and rotations).</summary>
    public string Tta { get; init; } = "none";
    /// <summary>0-based levels to write; null = all.</summary>
    public int[]? Levels { get; init; }
    /// <summary>Add a band per written level with the probability of the chosen path (JSPS) or class (flat): 0-254 for 0-1, 255 nodata.</summary>
    public bool Confidence { get; init; }
    /// <summary>
    /// A second GeoTIFF with a band per class of every written level: the softmax of the level's blended
    /// logits, 0-254 for 0-1 (band scale 1/254), 255 nodata. Flat models have logits for the finest level only.
    /// </summary>
    public string? Probabilities { get; init; }
    public bool Cog { get; init; }
    /// <summary>Bytes of logit accumulators to hold at once; the scene is processed in column strips that fit (memory does not grow with the scene).</summary>
    public long AccumulatorBudget { get; init; } = 192L << 20;
    /// <summary>Continue an interrupted prediction of the same scene, checkpoint and options where it stopped.</summary>
    public bool Resume { get; init; } = true;
    /// <summary>Stop after this many rows of windows, leaving the partial output to resume (an interruption on purpose, for tests).</summary>
    public int? StopAfterRows { get; init; }
}

/// <summary>What a prediction did.</summary>
public sealed record PredictResult(string Output, int Width, int Height, int Windows, int SkippedWindows, double Seconds, int ResumedRows = 0, bool Complete = true);

/// <summary>
/// Sliding-window prediction of a whole scene, streamed: the scene is cut into column strips whose
/// accumulators fit <see cref="PredictOptions.AccumulatorBudget"/>; in each strip, rows of overlapping
/// windows are read along the raster (edges reflection-padded), normalised with the checkpoint's
/// statistics, predicted, and their per-level logits blended by weight; rows no later window touches
/// are decoded by joint path selection (flat models: upward mapping) and written as a part (a small
/// GeoTIFF, whole or absent, so an interruption, kill -9 included, loses at most the part in progress;
/// a later run with the same scene, checkpoint and options continues after the finished parts and
/// assembles them into the output, which appears at its path only when complete). Windows that hold
/// only nodata are skipped; nodata pixels get the output nodata value (255). Every window of the global
/// grid that touches a strip is computed for it, so the result does not depend on the strip width.
/// Reading and writing run on their own threads beside the network: windows are read and normalised
/// up to two batches ahead, and each finished part is compressed and written while the next row is predicted.
/// Beside the output, a VRT of the same name gives every level band its colour table and class names.
/// </summary>
public sealed class ScenePredictor(Checkpoint checkpoint, PredictOptions options)
{
    public Checkpoint Checkpoint { get; } = checkpoint;
    public PredictOptions Options { get; } = options;

    /// <summary>A row of windows of a strip to compute; <c>RecomputeOnly</c>: finished before, needed again because its windows feed the next row.</summary>
    readonly record struct RowWork(int Strip, int Row, int Unit, bool RecomputeOnly);

    /// <summary>Windows read, padded and normalised, ready for the network (skipped all-nodata windows are counted, not kept).</summary>
    sealed record WindowBatch(List<(int Col, float[] Image, byte[] Valid)> Windows, int Skipped, int Count);

    public PredictResult Predict(string input, string output, Action<long, long>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ck = Checkpoint;
        var tree = ck.Tree;
        var model = ck.Model;
        model.Eval();
        using var src = Raster.Open(input);
        if (src.BandCount != ck.Bands)
            throw new InvalidDataException($"{input}: {src.BandCount} bands, but the checkpoint was trained on {ck.Bands} ({string.Join(", ", ck.Normalization.Mean.Select((_, b) => $"band {b + 1}"))})");
        int W = src.Width, H = src.Height, win = Options.Window, bands = ck.Bands;
        if (win < 32 || win % 32 != 0) throw new ArgumentException($"window {win}: use a multiple of 32 (the backbone's output stride)");
        var levels = Options.Levels ?? Enumerable.Range(0, tree.Depth).ToArray();
        foreach (var l in levels) if (l < 0 || l >= tree.Depth) throw new ArgumentException($"level {l + 1} outside 1..{tree.Depth}");
        bool flat = model.Head.Mode == BhccmMode.Flat;
        int[] classCounts = flat ? [tree.Levels[^1].Count] : tree.ClassCounts;
        int channels = classCounts.Sum();
        var xs = SlidingWindows.Starts(W, win, Options.Overlap);
        var ys = SlidingWindows.Starts(H, win, Options.Overlap);
        var noData = src.NoData;

        // bands of a part: the maps, their confidences, then the probabilities of every class of each level that has logits
        int[] probLevels = Options.Probabilities is null ? [] : levels.Where(l => !flat || l == tree.Depth - 1).ToArray();
        if (Options.Probabilities is not null && probLevels.Length == 0)
            throw new ArgumentException($"--probabilities: a flat model has logits for the finest level (level {tree.Depth}) only, which is not among the written levels");
        int mapBands = levels.Length * (Options.Confidence ? 2 : 1);
        int outBands = mapBands + probLevels.Sum(l => tree.Levels[l].Count);

        // column strips sized so that one row of windows' accumulators fits the budget
        long perColumn = (long)win * (channels + 1) * sizeof(float);
        int stripW = (int)Math.Clamp(Options.AccumulatorBudget / perColumn, Math.Min(win, W), W);
        var strips = new List<(int X0, int X1)>();
        for (int x0 = 0; x0 < W; x0 += stripW) strips.Add((x0, Math.Min(W, x0 + stripW)));
        var stripCols = strips.Select(s => Enumerable.Range(0, xs.Length).Where(i => xs[i] < s.X1 && xs[i] + win > s.X0).ToArray()).ToArray();

        // resumable: each finished row of windows of a strip is its own small GeoTIFF (written whole or
        // not at all) in a partial folder beside the output, assembled into the output at the end
        string partial = PartialDir(output);
        string signature = Signature(input, ck, Options, stripW, outBands);
        string signatureFile = Path.Combine(partial, "signature.txt");
        if (Directory.Exists(partial) && (!Options.Resume || !File.Exists(signatureFile) || File.ReadAllText(signatureFile) != signature))
            Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);
        AtomicFile.WriteAllText(signatureFile, signature);
        string UnitPath(int u) => Path.Combine(partial, $"rows_{u:D6}.tif");
        int doneUnits = 0;
        while (File.Exists(UnitPath(doneUnits))) doneUnits++;

        // the rows of windows still to compute; a finished row is skipped, except the last one before
        // the resume point when its windows also feed the next rows
        long totalWindows = stripCols.Sum(c => (long)c.Length * ys.Length), doneWindows = 0;
        var work = new List<RowWork>();
        for (int s = 0, unit = 0; s < strips.Count; s++)
            for (int r = 0; r < ys.Length; r++, unit++)
            {
                bool done = unit < doneUnits;
                if (done && !(unit + 1 == doneUnits && r + 1 < ys.Length)) doneWindows += stripCols[s].Length;
                else work.Add(new RowWork(s, r, unit, done));
            }

        var weightsX = xs.Select((_, i) => SlidingWindows.Weights(xs, i, win, W, Options.Blend)).ToArray();
        var weightsY = ys.Select((_, i) => SlidingWindows.Weights(ys, i, win, H, Options.Blend)).ToArray();
        // one set of accumulators for every strip (a new one per strip would keep the last one alive until a collection)
        var acc = new float[channels * win * stripW];   // laid out for the current strip's width: [channel][row][column < sw]
        var wsum = new float[win * stripW];

        using var stop = new CancellationTokenSource();
        using var queue = new BlockingCollection<WindowBatch>(boundedCapacity: 2);
        var reader = Task.Run(() => Engine.Serial(() =>
        {
            try
            {
                foreach (var wk in work)
                    foreach (var cols in stripCols[wk.Strip].Chunk(Options.Batch))
                        queue.Add(ReadBatch(src, cols, xs, ys[wk.Row], win, bands, noData), stop.Token);
            }
            catch (OperationCanceledException) { }
            finally { queue.CompleteAdding(); }
            return 0;
        }));
        Task? writing = null;
        int computed = 0, skipped = 0, thisRun = 0, strip = -1, rowBase = 0;
        try
        {
            foreach (var wk in work)
            {
                var (sx0, sx1) = strips[wk.Strip];
                int sw = sx1 - sx0, y0 = ys[wk.Row];
                if (wk.Strip != strip)
                {
                    strip = wk.Strip;
                    Array.Clear(acc, 0, channels * win * sw);
                    Array.Clear(wsum, 0, win * sw);
                    rowBase = 0;
                }
                Shift(acc, wsum, channels, sw, win, y0 - rowBase);
                rowBase = y0;
                for (int c0 = 0; c0 < stripCols[wk.Strip].Length; c0 += Options.Batch)
                {
                    if (!queue.TryTake(out var batch, Timeout.Infinite))
                    {
                        reader.GetAwaiter().GetResult(); // the reader stopped early: raise its error
                        throw new InvalidOperationException($"{input}: the window reader stopped early");
                    }
                    skipped += batch.Skipped;
                    if (batch.Windows.Count > 0)
                    {
                        var logits = Forward(model, batch.Windows.Select(i => i.Image).ToArray(), bands, win);
                        for (int b = 0; b < batch.Windows.Count; b++)
                        {
                            var (ci, _, valid) = batch.Windows[b];
                            Accumulate(acc, wsum, logits, classCounts, b, sw, win, xs[ci] - sx0, Math.Min(win, H - y0),
                                Math.Min(win, W - xs[ci]), weightsX[ci], weightsY[wk.Row], valid);
                        }
                        computed += batch.Windows.Count;
                    }
                    doneWindows += batch.Count;
                    progress?.Invoke(doneWindows, totalWindows);
                }
                if (wk.RecomputeOnly) continue;
                int finalEnd = wk.Row + 1 < ys.Length ? ys[wk.Row + 1] : H; // rows no later window touches
                int unitH = finalEnd - y0;
                var part = new byte[outBands * unitH * sw];
                // decoded a few rows at a time: the decoding temporaries stay small beside the accumulators
                for (int f0 = y0; f0 < finalEnd; f0 += FinalizeRows)
                    Finalize(part, unitH, y0, tree, flat, classCounts, levels, probLevels, acc, wsum, sw, rowBase, f0, Math.Min(finalEnd, f0 + FinalizeRows));
                writing?.GetAwaiter().GetResult();
                string unitPath = UnitPath(wk.Unit);
                writing = Task.Run(() => WritePart(unitPath, part, sw, unitH, outBands));
                if (++thisRun == Options.StopAfterRows)
                {
                    writing.GetAwaiter().GetResult();
                    return new PredictResult(output, W, H, computed, skipped, clock.Elapsed.TotalSeconds, doneUnits, Complete: false);
                }
            }
            writing?.GetAwaiter().GetResult();
            reader.GetAwaiter().GetResult();
        }
        finally
        {
            stop.Cancel();
            try { reader.Wait(); } catch (AggregateException) { } // its error, if any, was raised above
            try { writing?.Wait(); } catch (AggregateException) { }
        }
        Assemble(src, output, strips, ys, mapBands, outBands, levels, probLevels, tree, UnitPath);
        Directory.Delete(partial, recursive: true);
        return new PredictResult(output, W, H, computed, skipped, clock.Elapsed.TotalSeconds, doneUnits);
    }

    /// <summary>Reads the windows at columns <paramref name="cols"/> of the row starting at <paramref name="y0"/> and normalises them.</summary>
    WindowBatch ReadBatch(Raster src, int[] cols, int[] xs, int y0, int win, int bands, double?[] noData)
    {
        var windows = new List<(int, float[], byte[])>();
        int skipped = 0;
        foreach (var ci in cols)
        {
            var (img, valid, anyValid) = ReadWindow(src, xs[ci], y0, win, bands, noData);
            if (!anyValid) { skipped++; continue; }
            Checkpoint.Normalization.Apply(img, win * win, valid);
            windows.Add((ci, img, valid));
        }
        return new WindowBatch(windows, skipped, cols.Length);
    }

    /// <summary>One finished part: a small tiled GeoTIFF holding every output band of a row of windows of a strip.</summary>
    static void WritePart(string path, byte[] part, int w, int h, int bandCount)
    {
        using var writer = RasterWriter.Create(path, w, h, bandCount, RasterType.Byte);
        writer.Write(0, 0, w, h, Enumerable.Range(1, bandCount).ToArray(), part);
        writer.Commit();
    }

    /// <summary>Where the finished parts of an unfinished prediction of <paramref name="output"/> are kept.</summary>
    public static string PartialDir(string output)
    {
        string full = Path.GetFullPath(output);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.partial");
    }

    /// <summary>
    /// The output GeoTIFF (and the probabilities GeoTIFF, when asked) from the finished parts, one part at
    /// a time, each written under a temporary name and renamed; then the colour VRT beside the output.
    /// </summary>
    void Assemble(Raster src, string output, List<(int X0, int X1)> strips, int[] ys, int mapBands, int outBands, int[] levels,
        int[] probLevels, Hierarchies.ClassHierarchy tree, Func<int, string> unitPath)
    {
        var geo = new GeoTiffOptions { Cog = Options.Cog };
        RasterWriter Open(string path, int count)
        {
            var w = RasterWriter.Create(path, src.Width, src.Height, count, RasterType.Byte, geo);
            if (src.GeoTransform is { } gt) w.SetGeoTransform(gt);
            w.SetProjection(src.Projection);
            w.SetNoData(ClassMaps.NoData);
            return w;
        }
        using var dst = Open(output, mapBands);
        for (int k = 0; k < levels.Length; k++)
        {
            dst.SetDescription(k + 1, $"level {levels[k] + 1}: {tree.Levels[levels[k]].Name} ({tree.Name})");
            if (Options.Confidence)
            {
                dst.SetDescription(levels.Length + k + 1, $"confidence of level {levels[k] + 1} (0-254 = 0-1)");
                dst.SetScale(levels.Length + k + 1, 1.0 / 254);
            }
        }
        using var prob = Options.Probabilities is { } pp ? Open(pp, outBands - mapBands) : null;
        if (prob is not null)
        {
            int band = 1;
            foreach (var l in probLevels)
                foreach (var c in tree.Levels[l].Classes)
                {
                    prob.SetDescription(band, $"P(level {l + 1} = {c.Name}) (0-254 = 0-1)");
                    prob.SetScale(band++, 1.0 / 254);
                }
        }
        int unit = 0;
        var mapList = Enumerable.Range(1, mapBands).ToArray();
        var probList = Enumerable.Range(1, outBands - mapBands).ToArray();
        foreach (var (sx0, _) in strips)
            for (int r = 0; r < ys.Length; r++, unit++)
            {
                using var part = Raster.Open(unitPath(unit));
                int n = part.Width * part.Height;
                var data = new byte[outBands * n];
                part.Read(0, 0, part.Width, part.Height, Enumerable.Range(1, outBands).ToArray(), data);
                dst.Write(sx0, ys[r], part.Width, part.Height, mapList, data.AsSpan(0, mapBands * n));
                prob?.Write(sx0, ys[r], part.Width, part.Height, probList, data.AsSpan(mapBands * n));
            }
        prob?.Commit();
        dst.Commit();
        ClassMaps.WriteColourVrt(ColourVrtPath(output), output, tree, levels, src.Width, src.Height, src.GeoTransform, src.Projection);
    }

    /// <summary>The VRT written beside an output: its level bands with colour tables and class names.</summary>
    public static string ColourVrtPath(string output) => Path.ChangeExtension(output, ".vrt");

    /// <summary>What must match for a partial output to be continued: the scene file, the checkpoint, the options.</summary>
    static string Signature(string input, Checkpoint ck, PredictOptions o, int stripW, int outBands)
    {
        var fi = new FileInfo(input);
        return string.Join("|", fi.FullName, fi.Length, fi.LastWriteTimeUtc.Ticks, ck.Iteration, ck.Metadata.GetValueOrDefault("rng", ""),
            o.Window, o.Overlap, o.Batch, o.Blend, o.Tta, o.Levels is null ? "all" : string.Join(",", o.Levels), o.Confidence, o.Probabilities is null ? "" : Path.GetFullPath(o.Probabilities), o.Cog, stripW, outBands);
    }

    const int FinalizeRows = 64;

    /// <summary>Moves the accumulators up by <paramref name="rows"/> (the rows already written leave).</summary>
    static void Shift(float[] acc, float[] wsum, int channels, int sw, int win, int rows)
    {
        if (rows <= 0) return;
        int keep = win - rows, plane = win * sw;
        for (int c = 0; c <= channels; c++)
        {
            var a = c < channels ? acc.AsSpan(c * plane, plane) : wsum.AsSpan(0, plane);
            if (keep > 0) a.Slice(rows * sw, keep * sw).CopyTo(a);
            a.Slice(Math.Max(keep, 0) * sw).Clear();
        }
    }

    /// <summary>
    /// One window of every band, reflection-padded beyond the scene to win x win, nodata pixels set to 0
    /// (the mean, once normalised); its valid mask; whether any pixel holds data.
    /// </summary>
    static (float[] Image, byte[] Valid, bool AnyValid) ReadWindow(Raster src, int x0, int y0, int win, int bands, double?[] noData)
    {
        int w = Math.Min(win, src.Width - x0), h = Math.Min(win, src.Height - y0);
        var raw = new float[bands * w * h];
        src.Read(x0, y0, w, h, Enumerable.Range(1, bands).ToArray(), raw);
        var inScene = Data.TileDataset.ValidMask(raw, w * h, noData);
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

    /// <summary>Per-level logits of a batch of normalised windows.</summary>
    float[][] Forward(SegmentationModel model, float[][] images, int bands, int win)
    {
        int n = images.Length, px = win * win;
        var x = new float[n * bands * px];
        for (int i = 0; i < n; i++) images[i].CopyTo(x.AsSpan(i * bands * px));
        using var _ = GradMode.NoGrad();
        var input = Tensor.FromArray(x, n, bands, win, win);
        var views = Tta.Views(Options.Tta);
        Tensor[]? sum = null;
        foreach (var v in views)
        {
            var outs = model.Predict(Tta.Apply(input, v)).Select(z => Tta.Invert(z, v)).ToArray();
            sum = sum is null ? outs : sum.Zip(outs, (a, b) => a + b).ToArray();
        }
        if (views.Length > 1) sum = sum!.Select(z => z / views.Length).ToArray();
        var result = sum!.Select(z => z.Contiguous().ToArray()).ToArray();
        MemoryPressure.Allocated(result.Sum(r => (long)r.Length * sizeof(float)) + (long)x.Length * sizeof(float) * 2);
        return result;
    }

    /// <summary>
    /// Adds window <paramref name="b"/> of the batch (logits[l]: [batch, K_l, win, win]) into the strip's
    /// accumulators, weighted, at its valid pixels only: a pixel's weight sum is positive exactly where it holds data.
    /// </summary>
    static void Accumulate(float[] acc, float[] wsum, float[][] logits, int[] classCounts, int b, int sw, int win, int dx, int h, int w,
        float[] wx, float[] wy, byte[] valid)
    {
        int px = win * win, ch0 = 0, q0 = Math.Max(0, -dx), q1 = Math.Min(w, sw - dx);
        for (int l = 0; l < logits.Length; l++)
        {
            int kl = classCounts[l];
            for (int c = 0; c < kl; c++)
            {
                var src = logits[l].AsSpan((b * kl + c) * px, px);
                var dst = acc.AsSpan((ch0 + c) * win * sw, win * sw);
                for (int r = 0; r < h; r++)
                {
                    float wr = wy[r];
                    for (int q = q0; q < q1; q++)
                        if (valid[r * win + q] != 0) dst[r * sw + dx + q] += wr * wx[q] * src[r * win + q];
                }
            }
            ch0 += kl;
        }
        for (int r = 0; r < h; r++)
            for (int q = q0; q < q1; q++)
                if (valid[r * win + q] != 0) wsum[r * sw + dx + q] += wy[r] * wx[q];
    }

    /// <summary>
    /// Decodes rows [from, to) of the strip (accumulator row 0 is <paramref name="rowBase"/>) into the part
    /// (band-sequential, <paramref name="unitH"/> rows starting at scene row <paramref name="unitY0"/>).
    /// </summary>
    void Finalize(byte[] part, int unitH, int unitY0, Hierarchies.ClassHierarchy tree, bool flat, int[] classCounts, int[] levels, int[] probLevels,
        float[] acc, float[] wsum, int sw, int rowBase, int from, int to)
    {
        int rows = to - from, win = Options.Window;
        if (rows <= 0) return;
        int n = rows * sw, off = (from - rowBase) * sw, plane = unitH * sw, at = (from - unitY0) * sw;
        var valid = wsum.AsSpan(off, n);
        // blended logits of these rows as [1, K_l, rows, sw] per level
        var logits = new Tensor[classCounts.Length];
        int ch0 = 0;
        for (int l = 0; l < classCounts.Length; l++)
        {
            var t = new float[classCounts[l] * n];
            for (int c = 0; c < classCounts[l]; c++)
            {
                var a = acc.AsSpan((ch0 + c) * win * sw + off, n);
                for (int i = 0; i < n; i++) t[c * n + i] = valid[i] > 0 ? a[i] / valid[i] : 0f;
            }
            logits[l] = Tensor.FromArray(t, 1, classCounts[l], rows, sw);
            ch0 += classCounts[l];
        }
        IntTensor[] labels;
        Tensor? confidence = null;
        if (flat) labels = Decoder.Upward(tree, logits[0]);
        else (labels, confidence) = Decoder.Jsps(tree, logits);
        if (flat && Options.Confidence)
            using (GradMode.NoGrad()) confidence = logits[0].Softmax(1).Max(1).Values;
        // nodata where the scene holds none: no window added weight there
        var conf = confidence?.Contiguous().ToArray();
        int band = 0;
        Span<byte> Band(int b) => part.AsSpan(b * plane + at, n);
        for (int k = 0; k < levels.Length; k++)
        {
            var data = Band(band++);
            var lab = labels[levels[k]].Data;
            for (int i = 0; i < n; i++) data[i] = valid[i] > 0 ? (byte)lab[i] : ClassMaps.NoData;
        }
        if (Options.Confidence)
            for (int k = 0; k < levels.Length; k++)
            {
                var cb = Band(band++);
                for (int i = 0; i < n; i++) cb[i] = valid[i] > 0 ? ToByte(conf![i]) : ClassMaps.NoData;
            }
        foreach (var l in probLevels)
        {
            float[] p;
            using (GradMode.NoGrad()) p = logits[flat ? 0 : l].Softmax(1).Contiguous().ToArray();
            for (int c = 0; c < tree.Levels[l].Count; c++)
            {
                var pb = Band(band++);
                for (int i = 0; i < n; i++) pb[i] = valid[i] > 0 ? ToByte(p[c * n + i]) : ClassMaps.NoData;
            }
        }
    }

    /// <summary>A probability 0-1 as a byte 0-254 (255 is nodata).</summary>
    static byte ToByte(float p) => (byte)Math.Round(Math.Clamp(p, 0f, 1f) * 254f);
}

/// <summary>Test-time augmentation views: identity, horizontal flip, or the dihedral group D4 (flips and 90-degree rotations).</summary>
public static class Tta
{
    /// <summary>(rotations by 90 degrees, horizontal flip) of each view.</summary>
    public static (int Rot, bool Flip)[] Views(string mode) => mode switch
    {
        "none" => [(0, false)],
        "flip" => [(0, false), (0, true)],
        "d4" => [(0, false), (1, false), (2, false), (3, false), (0, true), (1, true), (2, true), (3, true)],
        _ => throw new ArgumentException($"unknown test-time augmentation '{mode}' (none, flip, d4)"),
    };

    public static Tensor Apply(Tensor x, (int Rot, bool Flip) v)
    {
        if (v.Flip) x = FlipW(x);
        for (int i = 0; i < v.Rot; i++) x = Rot90(x);
        return x;
    }

    public static Tensor Invert(Tensor y, (int Rot, bool Flip) v)
    {
        for (int i = 0; i < (4 - v.Rot) % 4; i++) y = Rot90(y);
        return v.Flip ? FlipW(y) : y;
    }

    static Tensor FlipW(Tensor x)
    {
        int w = x.Size(3);
        var idx = new long[w];
        for (int i = 0; i < w; i++) idx[i] = w - 1 - i;
        return x.IndexSelect(3, new IntTensor(idx, w));
    }

    /// <summary>Counter-clockwise by 90 degrees in the (H, W) plane (numpy rot90): transpose, then flip rows.</summary>
    static Tensor Rot90(Tensor x)
    {
        var t = x.Transpose(2, 3);
        int h = t.Size(2);
        var idx = new long[h];
        for (int i = 0; i < h; i++) idx[i] = h - 1 - i;
        return t.IndexSelect(2, new IntTensor(idx, h)).Contiguous();
    }
}
