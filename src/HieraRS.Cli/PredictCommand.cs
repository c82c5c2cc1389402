using System.CommandLine;
using System.Globalization;
using HieraRS.Domain.Inference;
using HieraRS.Domain.Modeling;
using HieraRS.Geo;
using HieraRS.Platform;

namespace HieraRS.Cli;

/// <summary><c>hierars predict</c>: georeferenced per-level class maps of whole scenes.</summary>
static class PredictCommand
{

    /// <summary>Maps up to this many pixels get PNG quick-looks.</summary>
    const long QuickLookPixels = 64L << 20;

    static readonly Option<string> CheckpointOpt = new("--checkpoint") { Description = "a HieraRS checkpoint, or a model written by `hierars export` (.onnx)", Required = true };
    static readonly Option<string> EngineOpt = new("--engine") { Description = "native (our engine, a checkpoint) | onnx (ONNX Runtime, an exported model); default: by the file's extension", DefaultValueFactory = _ => "auto" };
    static readonly Option<string> DeviceOpt = new("--device") { Description = "cpu | cuda (ONNX Runtime's CUDA provider; needs the GPU package, docs/onnx.md)", DefaultValueFactory = _ => "cpu" };
    static readonly Option<string> InputOpt = new("--input") { Description = "a raster GDAL reads, a folder of them, or a text file listing them", Required = true };
    static readonly Option<string> OutputOpt = new("--output") { Description = "output GeoTIFF (or folder when the input is several scenes)", Required = true };
    static readonly Option<int> WindowOpt = new("--window") { Description = "window size in pixels (a multiple of 32)", DefaultValueFactory = _ => 512 };
    static readonly Option<string> OverlapOpt = new("--overlap") { Description = "pixels shared by neighbouring windows, or a fraction of the window (0.25)", DefaultValueFactory = _ => "64" };
    static readonly Option<int?> BatchOpt = new("--batch") { Description = "windows per forward pass (default: 2 on our engine, 1 in ONNX Runtime: the fastest measured)" };
    static readonly Option<string> BlendOpt = new("--blend") { Description = "cosine | linear | none", DefaultValueFactory = _ => "cosine" };
    static readonly Option<string> TtaOpt = new("--tta") { Description = "none | flip | d4", DefaultValueFactory = _ => "none" };
    static readonly Option<string> LevelsOpt = new("--levels") { Description = "all, or 1-based levels such as 1,3", DefaultValueFactory = _ => "all" };
    static readonly Option<bool> ConfidenceOpt = new("--confidence") { Description = "add a confidence band per level (0-254 = 0-1)" };
    static readonly Option<string?> ProbabilitiesOpt = new("--probabilities") { Description = "also write per-class probabilities of every level to this GeoTIFF (0-254 = 0-1)" };
    static readonly Option<int> AccumulatorOpt = new("--accumulator-mb") { Description = "memory for blending logits; wider scenes are cut into column strips that fit", DefaultValueFactory = _ => 192 };
    static readonly Option<bool> CogOpt = new("--cog") { Description = "write a cloud-optimised GeoTIFF" };
    static readonly Option<bool> RestartOpt = new("--restart") { Description = "ignore the partial output of an interrupted run instead of continuing it" };
    static readonly Option<string?> ShardOpt = new("--shard") { Description = "this worker's share, i/N (1-based: 1/4 to 4/4); default: from MPI, a Slurm array or a Kubernetes Indexed Job; 1/1: all" };
    static readonly Option<int?> ShardCountOpt = new("--shard-count") { Description = "the number of workers of a Kubernetes Indexed Job (its completions)" };
    static readonly Option<bool> MergeOpt = new("--merge") { Description = "only assemble the output of one scene from the parts its workers wrote" };

    public static Command Build()
    {
        var cmd = new Command("predict", "per-level class maps of whole scenes: sliding windows blended before joint path selection, streamed in bounded memory; an interrupted run continues where it stopped");
        foreach (var o in new Option[] { CheckpointOpt, EngineOpt, DeviceOpt, InputOpt, OutputOpt, WindowOpt, OverlapOpt, BatchOpt, BlendOpt, TtaOpt, LevelsOpt, ConfidenceOpt, ProbabilitiesOpt, AccumulatorOpt, CogOpt, RestartOpt, ShardOpt, ShardCountOpt, MergeOpt })
            cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() => Run(pr)));
        return cmd;
    }

    /// <summary>
    /// GDAL's block cache while predicting: a row of windows of a strip reads about 20 MB of blocks and the
    /// output takes a row of tiles at a time, so 64 MB holds what is read twice; a larger cache only fills
    /// up on large scenes and makes their peak memory grow with the scene.
    /// </summary>
    const long CacheBytes = 64L << 20;

    static int Run(ParseResult pr)
    {
        RasterCache.Limit(CacheBytes);
        using var model = WindowModel(pr.GetValue(CheckpointOpt)!, pr.GetValue(EngineOpt)!, pr.GetValue(DeviceOpt)!);
        string input = pr.GetValue(InputOpt)!, outArg = pr.GetValue(OutputOpt)!;
        var scenes = Inputs(input);
        bool many = scenes.Count > 1 || Directory.Exists(input);
        var (opts, mine) = PredictShards.Split(Options(pr, model.Model), scenes, many);
        if (many && opts.Probabilities is not null) throw new ArgumentException("--probabilities names one file: predict one scene at a time with it");
        // no output of any scene may overwrite the checkpoint or a file another scene of the run reads
        var predictor = new ScenePredictor(model.Model, opts with { OtherInputs = [pr.GetValue(CheckpointOpt)!, .. scenes.SelectMany(ReadFiles)] });
        foreach (var scene in mine)
            PredictScene(predictor, scene, many ? Path.Combine(outArg, Path.GetFileNameWithoutExtension(scene) + ".tif") : outArg);
        return 0;
    }

    /// <summary>The network windows go through, by --engine (or the file's extension) and --device.</summary>
    static WindowModelHandle WindowModel(string path, string engine, string device)
    {
        if (engine == "auto") engine = path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? "onnx" : "native";
        switch (engine)
        {
            case "native":
                if (device != "cpu") throw new ArgumentException($"--device {device}: our engine runs on the CPU; export the model (hierars export) and predict with --engine onnx --device cuda");
                return new WindowModelHandle(new NativeWindowModel(Checkpoint.Load(path)));
            case "onnx":
                var onnx = new OnnxWindowModel(path, device);
                return new WindowModelHandle(onnx, onnx);
            default: throw new ArgumentException($"--engine {engine}: native or onnx");
        }
    }

    sealed record WindowModelHandle(IWindowModel Model, IDisposable? Owned = null) : IDisposable
    {
        public void Dispose() => Owned?.Dispose();
    }

    static PredictOptions Options(ParseResult pr, IWindowModel model)
    {
        int win = pr.GetValue(WindowOpt);
        string ov = pr.GetValue(OverlapOpt)!;
        int overlapPx = ov.Contains('.') ? (int)Math.Round(double.Parse(ov, CultureInfo.InvariantCulture) * win) : int.Parse(ov, CultureInfo.InvariantCulture);
        return new PredictOptions
        {
            Window = win, Overlap = overlapPx, Batch = pr.GetValue(BatchOpt) ?? model.DefaultBatch,
            Blend = pr.GetValue(BlendOpt) switch { "linear" => BlendMode.Linear, "none" => BlendMode.None, "cosine" => BlendMode.Cosine,
                var b => throw new ArgumentException($"--blend {b}: cosine, linear or none") },
            Tta = pr.GetValue(TtaOpt)!, Confidence = pr.GetValue(ConfidenceOpt), Probabilities = pr.GetValue(ProbabilitiesOpt),
            AccumulatorBudget = pr.GetValue(AccumulatorOpt) * (1L << 20), Cog = pr.GetValue(CogOpt), Resume = !pr.GetValue(RestartOpt),
            Merge = pr.GetValue(MergeOpt), Shard = pr.GetValue(MergeOpt) ? null : ShardSpec.Resolve(pr.GetValue(ShardOpt), pr.GetValue(ShardCountOpt), Environment.GetEnvironmentVariable),
            Levels = pr.GetValue(LevelsOpt) is "all" ? null : pr.GetValue(LevelsOpt)!.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture) - 1).ToArray(),
        }.Validate();
    }

    static void PredictScene(ScenePredictor predictor, string scene, string outPath)
    {
        long pixels;
        using (var probe = Raster.Open(scene)) pixels = (long)probe.Width * probe.Height;
        ConsoleProgress? bar = null;
        // Ctrl-C ends the process at once; what is finished stays for the next run
        ConsoleCancelEventHandler onCancel = (_, _) => Console.Error.WriteLine(
            $"\ninterrupted: the finished parts are kept in {ScenePredictor.PartialDir(outPath)}; run the same command again to continue there (--restart starts over)");
        Console.CancelKeyPress += onCancel;
        PredictResult r;
        try
        {
            // windows done, shown as the scene's pixels covered so far (Mpx/s and ETA)
            r = predictor.Predict(scene, outPath, (d, t) => (bar ??= new ConsoleProgress(Path.GetFileName(scene), pixels, "Mpx", 1e6)).Report(pixels * d / t),
                notice: m => Console.Error.WriteLine(m));
            Report(predictor.Options, r);
        }
        finally { Console.CancelKeyPress -= onCancel; }
        if (r.Complete && pixels <= QuickLookPixels) // a worker whose share is done leaves them to the one that assembles
        {
            var tree = predictor.Model.Hierarchy;
            string stem = Path.GetFileNameWithoutExtension(outPath);
            var pngs = ClassMaps.WriteQuickLooks(outPath, tree, predictor.Options.Levels ?? Enumerable.Range(0, tree.Depth).ToArray(),
                Path.GetDirectoryName(Path.GetFullPath(outPath))!, stem, stem);
            Console.WriteLine($"quick-looks: {string.Join(", ", pngs.Select(Path.GetFileName))}");
        }
    }

    static void Report(PredictOptions opts, PredictResult r)
    {
        if (!r.Complete && r.MissingParts > 0)
        {
            Console.WriteLine($"{r.Output}: this worker's parts are written ({Plural.Of(r.Windows, "window")}, {r.Seconds:F1} s); {Plural.Of(r.MissingParts, "part")} of other workers to come: the last to finish assembles the map (or run --merge)");
            return;
        }
        string resumed = r.ResumedRows > 0 ? $"; continued an interrupted run after {Plural.Of(r.ResumedRows, "row")} of windows" : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{r.Output}: {r.Width} x {r.Height}, {Plural.Of(r.Windows, "window")} ({r.SkippedWindows} all-nodata skipped), {r.Seconds:F1} s, {r.Width * (double)r.Height / 1e6 / r.Seconds:F2} Mpx/s{resumed}"));
        Console.WriteLine($"coloured levels (open in a GIS): {ScenePredictor.ColourVrtPath(r.Output)}" + (opts.Probabilities is { } pf ? $"; probabilities: {pf}" : ""));
    }

    static string[] ReadFiles(string scene)
    {
        using var r = Raster.Open(scene);
        return [scene, .. r.Files()];
    }

    static List<string> Inputs(string input)
    {
        if (Directory.Exists(input))
            return Directory.EnumerateFiles(input).Where(Raster.IsRasterFile).Order(StringComparer.Ordinal).ToList();
        if (input.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) && File.Exists(input))
            return File.ReadLines(input).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(input))!, l))).ToList();
        return [input];
    }
}
