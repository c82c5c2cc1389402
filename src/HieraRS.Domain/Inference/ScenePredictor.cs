using HieraRS.Domain.Losses;
using HieraRS.Domain.Models;
using HieraRS.Domain.Training;
using HieraRS.Geo;
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
/// </summary>
public sealed class ScenePredictor(Checkpoint checkpoint, PredictOptions options)
{
    public Checkpoint Checkpoint { get; } = checkpoint;
    public PredictOptions Options { get; } = options;

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

        int outBands = levels.Length + (Options.Confidence ? levels.Length : 0);
        // column strips sized so that one row of windows' accumulators fits the budget
        long perColumn = (long)win * (channels + 1) * sizeof(float);
        int stripW = (int)Math.Clamp(Options.AccumulatorBudget / perColumn, Math.Min(win, W), W);
        var strips = new List<(int X0, int X1)>();
        for (int x0 = 0; x0 < W; x0 += stripW) strips.Add((x0, Math.Min(W, x0 + stripW)));

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
        int resumed = doneUnits;

        long totalWindows = strips.Sum(s => (long)xs.Count(x => x < s.X1 && x + win > s.X0) * ys.Length);
        long doneWindows = 0;
        int computed = 0, skipped = 0, unit = 0, thisRun = 0;
        var weightsX = xs.Select((_, i) => SlidingWindows.Weights(xs, i, win, W, Options.Blend)).ToArray();
        var weightsY = ys.Select((_, i) => SlidingWindows.Weights(ys, i, win, H, Options.Blend)).ToArray();

        // one set of accumulators for every strip (a new one per strip would keep the last one alive until a collection)
        var accAll = new float[channels * win * stripW];
        var wsumAll = new float[win * stripW];
        foreach (var (sx0, sx1) in strips)
        {
            int sw = sx1 - sx0;
            var cols = Enumerable.Range(0, xs.Length).Where(i => xs[i] < sx1 && xs[i] + win > sx0).ToArray();
            // accumulators for rows [rowBase, rowBase + win) of the strip
            var acc = accAll;   // laid out for this strip's width: [channel][row][column < sw]
            var wsum = wsumAll;
            Array.Clear(acc, 0, channels * win * sw);
            Array.Clear(wsum, 0, win * sw);
            int rowBase = 0;
            for (int r = 0; r < ys.Length; r++, unit++)
            {
                bool done = unit < doneUnits;
                // a finished row is skipped, except the last one before the resume point: its windows also feed the next rows
                if (done && !(unit + 1 == doneUnits && r + 1 < ys.Length))
                {
                    doneWindows += cols.Length;
                    continue;
                }
                int y0 = ys[r];
                Shift(acc, wsum, channels, sw, win, y0 - rowBase);
                rowBase = y0;
                for (int c0 = 0; c0 < cols.Length; c0 += Options.Batch)
                {
                    var batch = cols.Skip(c0).Take(Options.Batch).ToArray();
                    var images = new List<(int Col, float[] Image, byte[] Valid)>();
                    foreach (var ci in batch)
                    {
                        var (img, valid, anyValid) = ReadWindow(src, xs[ci], y0, win, bands, noData);
                        if (!anyValid) { skipped++; continue; }
                        images.Add((ci, img, valid));
                    }
                    if (images.Count > 0)
                    {
                        var logits = Forward(model, images.Select(i => i.Image).ToArray(), images.Select(i => i.Valid).ToArray(), bands, win);
                        for (int b = 0; b < images.Count; b++)
                            Accumulate(acc, wsum, logits, classCounts, b, sw, win, xs[images[b].Col] - sx0, Math.Min(win, H - y0),
                                Math.Min(win, W - xs[images[b].Col]), weightsX[images[b].Col], weightsY[r], images[b].Valid);
                        computed += images.Count;
                    }
                    doneWindows += batch.Length;
                    progress?.Invoke(doneWindows, totalWindows);
                }
                if (done) continue; // recomputed only for the rows below it
                int finalEnd = r + 1 < ys.Length ? ys[r + 1] : H; // rows no later window touches
                using (var unitWriter = RasterWriter.Create(UnitPath(unit), sw, finalEnd - y0, outBands, RasterType.Byte))
                {
                    // decoded a few rows at a time: the decoding temporaries stay small beside the accumulators
                    for (int f0 = y0; f0 < finalEnd; f0 += FinalizeRows)
                        Finalize(unitWriter, y0, tree, flat, classCounts, levels, acc, wsum, sw, rowBase, f0, Math.Min(finalEnd, f0 + FinalizeRows));
                    unitWriter.Commit();
                }
                if (++thisRun == Options.StopAfterRows)
                    return new PredictResult(output, W, H, computed, skipped, clock.Elapsed.TotalSeconds, resumed, Complete: false);
            }
        }
        Assemble(src, output, strips, ys, outBands, levels, tree, UnitPath);
        Directory.Delete(partial, recursive: true);
        return new PredictResult(output, W, H, computed, skipped, clock.Elapsed.TotalSeconds, resumed);
    }

    /// <summary>Where the finished parts of an unfinished prediction of <paramref name="output"/> are kept.</summary>
    public static string PartialDir(string output)
    {
        string full = Path.GetFullPath(output);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.partial");
    }

    /// <summary>The output GeoTIFF from the finished parts, one part at a time, written under a temporary name and renamed.</summary>
    void Assemble(Raster src, string output, List<(int X0, int X1)> strips, int[] ys, int outBands, int[] levels,
        Hierarchies.ClassHierarchy tree, Func<int, string> unitPath)
    {
        using var dst = RasterWriter.Create(output, src.Width, src.Height, outBands, RasterType.Byte, new GeoTiffOptions { Cog = Options.Cog });
        if (src.GeoTransform is { } gt) dst.SetGeoTransform(gt);
        dst.SetProjection(src.Projection);
        dst.SetNoData(ClassMaps.NoData);
        for (int k = 0; k < levels.Length; k++)
        {
            dst.SetDescription(k + 1, $"level {levels[k] + 1}: {tree.Levels[levels[k]].Name} ({tree.Name})");
            if (Options.Confidence) dst.SetDescription(levels.Length + k + 1, $"confidence of level {levels[k] + 1} (0-254 = 0-1)");
        }
        int unit = 0;
        var bandList = Enumerable.Range(1, outBands).ToArray();
        foreach (var (sx0, _) in strips)
            for (int r = 0; r < ys.Length; r++, unit++)
            {
                using var part = Raster.Open(unitPath(unit));
                var data = new byte[outBands * part.Width * part.Height];
                part.Read(0, 0, part.Width, part.Height, bandList, data);
                dst.Write(sx0, ys[r], part.Width, part.Height, bandList, data);
            }
        dst.Commit();
    }

    /// <summary>What must match for a partial output to be continued: the scene file, the checkpoint, the options.</summary>
    static string Signature(string input, Checkpoint ck, PredictOptions o, int stripW, int outBands)
    {
        var fi = new FileInfo(input);
        return string.Join("|", fi.FullName, fi.Length, fi.LastWriteTimeUtc.Ticks, ck.Iteration, ck.Metadata.GetValueOrDefault("rng", ""),
            o.Window, o.Overlap, o.Batch, o.Blend, o.Tta, o.Levels is null ? "all" : string.Join(",", o.Levels), o.Confidence, o.Cog, stripW, outBands);
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

    /// <summary>Per-level logits of a batch of raw windows (normalised here with the checkpoint's statistics).</summary>
    float[][] Forward(Segmentor model, float[][] images, byte[][] valid, int bands, int win)
    {
        int n = images.Length, px = win * win;
        var x = new float[n * bands * px];
        for (int i = 0; i < n; i++)
        {
            Checkpoint.Normalization.Apply(images[i], px, valid[i]);
            images[i].CopyTo(x.AsSpan(i * bands * px));
        }
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

    /// <summary>Decodes rows [from, to) of the strip (accumulator row 0 is <paramref name="rowBase"/>) into the part starting at row <paramref name="unitY0"/>.</summary>
    void Finalize(RasterWriter dst, int unitY0, Hierarchies.ClassHierarchy tree, bool flat, int[] classCounts, int[] levels,
        float[] acc, float[] wsum, int sw, int rowBase, int from, int to)
    {
        int rows = to - from, win = Options.Window;
        if (rows <= 0) return;
        int n = rows * sw, off = (from - rowBase) * sw;
        // blended logits of these rows as [1, K_l, rows, sw] per level
        var logits = new Tensor[classCounts.Length];
        int ch0 = 0;
        for (int l = 0; l < classCounts.Length; l++)
        {
            var t = new float[classCounts[l] * n];
            for (int c = 0; c < classCounts[l]; c++)
            {
                var a = acc.AsSpan((ch0 + c) * win * sw + off, n);
                for (int i = 0; i < n; i++) t[c * n + i] = wsum[off + i] > 0 ? a[i] / wsum[off + i] : 0f;
            }
            logits[l] = Tensor.FromArray(t, 1, classCounts[l], rows, sw);
            ch0 += classCounts[l];
        }
        IntTensor[] labels;
        Tensor? confidence = null;
        if (flat) labels = Decoding.Upward(tree, logits[0]);
        else (labels, confidence) = Decoding.Jsps(tree, logits);
        if (flat && Options.Confidence)
            using (GradMode.NoGrad()) confidence = logits[0].Softmax(1).Max(1).Values;
        // nodata where the scene holds none: no window added weight there
        var conf = confidence?.Contiguous().ToArray();
        for (int k = 0; k < levels.Length; k++)
        {
            var data = new byte[n];
            var lab = labels[levels[k]].Data;
            for (int i = 0; i < n; i++) data[i] = wsum[off + i] > 0 ? (byte)lab[i] : ClassMaps.NoData;
            dst.Write(0, from - unitY0, sw, rows, [k + 1], data);
            if (Options.Confidence)
            {
                var cb = new byte[n];
                for (int i = 0; i < n; i++) cb[i] = wsum[off + i] > 0 ? (byte)Math.Round(conf![i] * 254f) : ClassMaps.NoData;
                dst.Write(0, from - unitY0, sw, rows, [levels.Length + k + 1], cb);
            }
        }
    }
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
