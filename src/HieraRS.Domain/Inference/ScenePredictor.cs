using HieraRS.Platform;
using HieraRS.Tensors;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.Geo;

namespace HieraRS.Domain.Inference;

/// <summary>
/// Sliding-window prediction of a whole scene, streamed in bounded memory. The scene is cut into column
/// strips (<see cref="StripPlan"/>) whose accumulators fit <see cref="PredictOptions.AccumulatorBudget"/>;
/// in each strip, rows of overlapping windows are read (<see cref="WindowReader"/>, on its own thread),
/// predicted (<see cref="WindowNetwork"/>, with test-time augmentation) and blended by weight
/// (<see cref="LogitAccumulator"/>; a window on a strip seam is computed once, <see cref="SeamCache"/>); rows no later window touches are decoded (<see cref="PartDecoder"/>)
/// and written as a part (<see cref="PartStore"/>: resumable, kill -9 included); the finished parts are
/// assembled into the output, which appears at its path only when complete, with a colour VRT beside it
/// (<see cref="SceneAssembler"/>). Windows that hold only nodata are skipped; nodata pixels get 255.
/// </summary>
public sealed class ScenePredictor(IWindowModel model, PredictOptions options)
{
    /// <summary>A checkpoint's network on our engine.</summary>
    public ScenePredictor(Checkpoint checkpoint, PredictOptions options) : this(new NativeWindowModel(checkpoint), options) { }

    /// <summary>The network windows go through: our engine, or an exported model in ONNX Runtime.</summary>
    public IWindowModel Model { get; } = model;
    public PredictOptions Options { get; } = options;

    /// <param name="progress">windows done and in all, as they are done.</param>
    /// <param name="notice">what the user should know before the work starts (a discarded partial run).</param>
    public PredictResult Predict(string input, string output, Action<long, long>? progress = null, Action<string>? notice = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var src = Raster.Open(input);
        var bands = CheckScene(input, src);
        OutputGuard.Check(src.Files().Append(input).Concat(Options.OtherInputs), Outputs(output, bands.Levels), [PartialDir(output)]);
        var plan = new StripPlan(src.Width, src.Height, Options, bands.Channels);
        using var store = PartStore.Open(output, Signature(input, plan, bands), Options.Resume, ShardedParts.Sharing(Options));
        if (store.DiscardedOther)
            notice?.Invoke($"{output}: discarded the partial output of an earlier run with another scene, checkpoint or options (kept only for the same ones)");
        var run = new SceneRun(plan, bands, new WindowNetwork(Model, Options.Window, Options.Tta), store, Options);
        var parts = ShardedParts.Select(Options, plan, store);
        int resumed = parts.Written(plan.PartCount);
        int missing = !run.Run(src, Model.Normalization, progress, parts) ? -1
            : ShardedParts.Finish(Options, output, plan, store, () => { new SceneAssembler(src, bands, Options).Assemble(output, plan, store); store.Delete(); });
        return new PredictResult(output, src.Width, src.Height, run.Computed, run.Skipped, clock.Elapsed.TotalSeconds, resumed, missing == 0, Math.Max(missing, 0));
    }

    /// <summary>Refuses a scene the model cannot predict, or options that do not fit it, before any work; the bands to write.</summary>
    OutputBands CheckScene(string input, Raster src)
    {
        int bands = Model.Normalization.Bands;
        if (src.BandCount != bands)
            throw new InvalidDataException($"{input}: {Plural.Of(src.BandCount, "band")}, but the checkpoint was trained on {bands} ({string.Join(", ", Enumerable.Range(1, bands).Select(b => $"band {b}"))})");
        Options.Validate();
        if (Model.Window is { } w && Options.Window != w)
            throw new ArgumentException($"--window {Options.Window}: the model was exported for windows of {w} pixels; use --window {w} (or export with --dynamic-size)");
        return OutputBands.For(Model.Hierarchy, Model.Flat, Options);
    }

    /// <summary>Every file a prediction of <paramref name="output"/> writes: the map, its colour VRT, the probabilities, the quick-looks of <paramref name="levels"/>.</summary>
    public IReadOnlyList<OutputFile> Outputs(string output, IReadOnlyList<int> levels)
    {
        var files = new List<OutputFile> { new("--output", output), new($"the colour VRT beside --output", ColourVrtPath(output)) };
        if (Options.Probabilities is { } p) files.Add(new("--probabilities", p));
        string dir = Path.GetDirectoryName(Path.GetFullPath(output))!, stem = Path.GetFileNameWithoutExtension(output);
        files.AddRange(levels.Select(l => new OutputFile("the quick-look", ClassMaps.QuickLookPath(dir, stem, l))));
        return files;
    }

    /// <summary>Where the finished parts of an unfinished prediction of <paramref name="output"/> are kept.</summary>
    public static string PartialDir(string output) => PartStore.PartialDir(output);

    /// <summary>The VRT written beside an output: its level bands with colour tables and class names.</summary>
    public static string ColourVrtPath(string output) => SceneAssembler.ColourVrtPath(output);

    /// <summary>What must match for a partial output to be continued: the scene file, the model, the options.</summary>
    string Signature(string input, StripPlan plan, OutputBands bands)
    {
        var fi = new FileInfo(input);
        var o = Options;
        return string.Join("|", fi.FullName, fi.Length, fi.LastWriteTimeUtc.Ticks, Model.Identity,
            o.Window, o.Overlap, o.Batch, o.Blend, o.Tta, o.Levels is null ? "all" : string.Join(",", o.Levels), o.Confidence,
            o.Probabilities is null ? "" : Path.GetFullPath(o.Probabilities), o.Cog, plan.StripWidth, bands.Count);
    }
}

/// <summary>One scene's rows of windows computed into parts: what is left to do, and what was done.</summary>
sealed class SceneRun(StripPlan plan, OutputBands bands, WindowNetwork network, PartStore store, PredictOptions options)
{
    readonly LogitAccumulator acc = new(bands.LogitCounts, plan.Window, plan.StripWidth);
    readonly PartDecoder decoder = new(bands, bands.Count * plan.MaxPartPixels);
    readonly SeamCache? seams = plan.Strips.Length > 1 ? new SeamCache(store.Dir, bands.LogitCounts, plan.Window) : null;
    long doneWindows, totalWindows;

    /// <summary>Windows predicted in this run.</summary>
    public int Computed { get; private set; }
    /// <summary>All-nodata windows skipped in this run.</summary>
    public int Skipped { get; private set; }

    /// <summary>Computes and writes every part still missing; false when stopped on purpose (<see cref="PredictOptions.StopAfterRows"/>).</summary>
    public bool Run(Raster src, Data.Normalization norm, Action<long, long>? progress, PartSelection parts)
    {
        (var work, doneWindows, totalWindows) = plan.Remaining(parts);
        using var reader = new WindowReader(src, plan, norm, work.SelectMany(wk => Batches(wk).Select(cols => new BatchRequest(cols, plan.Ys[wk.Row]))));
        int strip = -1, written = 0;
        foreach (var wk in work)
        {
            if (wk.Strip != strip) acc.StartStrip(plan.Part(wk.Unit).Width);
            strip = wk.Strip;
            acc.MoveTo(plan.Ys[wk.Row]);
            foreach (var _ in Batches(wk)) Add(reader.Next(), wk, progress);
            if (wk.RecomputeOnly) continue;
            var (_, y, w, h) = plan.Part(wk.Unit);
            store.Write(wk.Unit, decoder.Decode(acc, y, y + h), w, h, bands.Count);
            if (++written == options.StopAfterRows) { store.Flush(); return false; }
        }
        store.Flush();
        reader.Finish();
        return true;
    }

    IEnumerable<int[]> Batches(RowWork wk) => plan.Columns[wk.Strip].Chunk(options.Batch);

    void Add(WindowBatch batch, RowWork wk, Action<long, long>? progress)
    {
        Skipped += batch.Skipped;
        // a seam window the strip on the left computed in this run (or one before) is not computed again
        var left = batch.Windows.Select(w => wk.Strip > 0 && plan.ReachesNext(wk.Strip - 1, w.Col) ? seams?.Take(wk.Strip, wk.Row, w.Col) : null).ToArray();
        var compute = batch.Windows.Where((_, b) => left[b] is null).ToList();
        var logits = compute.Count > 0 ? network.Logits(compute) : null;
        for (int b = 0, k = 0; b < batch.Windows.Count; b++)
        {
            int col = batch.Windows[b].Col;
            var at = plan.Placement(wk.Strip, col, wk.Row);
            if (left[b] is { } slice) { acc.Add(slice, at); continue; }
            var scores = new WindowScores(logits!, k++, batch.Windows[b].Valid, plan.Window, 0);
            acc.Add(scores, at);
            if (seams is not null && plan.ReachesNext(wk.Strip, col))
                seams.Put(wk.Strip + 1, wk.Row, col, scores, plan.Strips[wk.Strip + 1].X0 - plan.Xs[col]);
        }
        if (logits is not null) foreach (var a in logits) Tensor.Recycle(a); // blended and left at the seam: the next window's scores go there
        Computed += compute.Count;
        doneWindows += batch.Count;
        progress?.Invoke(doneWindows, totalWindows);
    }
}
