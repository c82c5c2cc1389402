using System.CommandLine;
using System.Globalization;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Inference;
using HieraRS.Domain.Metrics;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Training;
using HieraRS.Domain.Visual;
using HieraRS.NN.Distributed;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Cli;

/// <summary>A progress bar for training (loss terms, lr, it/s, ETA) and evaluation.</summary>
sealed class ConsoleObserver : ITrainingObserver
{
    ConsoleProgress? train, eval;

    public void Step(long iteration, long total, float loss, IReadOnlyDictionary<string, float> terms, double lr)
    {
        train ??= new ConsoleProgress("train", total);
        train.Report(iteration, string.Create(CultureInfo.InvariantCulture,
            $"loss {loss:F3} ({string.Join(" ", terms.Select(kv => $"{kv.Key} {kv.Value:F3}"))}) lr {lr:G3}"));
    }

    public void Evaluating(int done, int total)
    {
        if (done == 1) eval = new ConsoleProgress("  eval", total, "tiles");
        eval?.Report(done);
    }

    public void Evaluated(long iteration, HierarchicalMetrics m)
    {
        var per = Enumerable.Range(0, m.Hierarchy.Depth).Select(l => string.Create(CultureInfo.InvariantCulture,
            $"L{l + 1} mIoU {100 * m.Scores(l).MIoU:F1} OA {100 * m.Scores(l).OverallAccuracy:F1}"));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  iteration {iteration}: {string.Join(", ", per)}, consistency {100 * m.Consistency:F1}%"));
    }

    public void Message(string text) => Console.Error.WriteLine(text);
}

static class TrainCommands
{
    public static Command Train() => Training("train",
        "train a model from an experiment config; checkpoints, log.jsonl and evaluation reports go to the work dir", transfer: false);

    public static Command Transfer() => Training("transfer",
        "transfer a trained model to a task with another class tree (TransLU: CDKS + CDSA, or the fine-tuning baselines); the config's 'transfer' section names the source checkpoint",
        transfer: true);

    static Command Training(string name, string description, bool transfer)
    {
        var config = new Option<string>("--config") { Description = transfer ? "experiment YAML with a 'transfer' section" : "experiment YAML", Required = true };
        var workDir = new Option<string?>("--work-dir") { Description = "output folder (default: work_dirs/<name>)" };
        var resume = new Option<bool>("--resume") { Description = "continue from <work-dir>/latest.safetensors" };
        var stopAfter = new Option<long?>("--stop-after") { Description = "end this session after that iteration (schedule unchanged; --resume continues it exactly)" };
        var seed = new Option<ulong?>("--seed") { Description = "seed of this run, in place of the config's (stored with its config, so the run reproduces)" };
        var cmd = new Command(name, description);
        foreach (var o in new Option[] { config, workDir, resume, stopAfter, seed }) cmd.Options.Add(o);
        cmd.SetAction(pr => EndJobOnError(Guard.Run(() =>
        {
            var cfg = ExperimentConfig.Load(pr.GetValue(config)!);
            if (pr.GetValue(seed) is { } s) cfg = cfg.WithSeed(s);
            if (transfer && cfg.Transfer is null)
                throw new ArgumentException($"{pr.GetValue(config)}: no 'transfer' section (source checkpoint and method); use `hierars train` for ordinary training");
            var dir = pr.GetValue(workDir) ?? Path.Combine("work_dirs", cfg.Name);
            var r = new Trainer(cfg, dir).Run(pr.GetValue(resume), new ConsoleObserver(), pr.GetValue(stopAfter));
            if (Communicator.World.Rank != 0) return 0; // rank 0 reports for a data-parallel job
            if (r.LastEval is { } m) Console.Write(MetricsReport.ToConsole(m));
            Console.WriteLine($"checkpoints: {r.Latest}{(r.Best is null ? "" : $", {r.Best}")}; log: {Path.Combine(r.WorkDir, "log.jsonl")}");
            return 0;
        })));
        return cmd;
    }

    /// <summary>
    /// A rank that fails under mpirun aborts the job: exiting normally would finalise MPI, which waits for
    /// the other ranks while they wait for this one in the next all-reduce.
    /// </summary>
    static int EndJobOnError(int code)
    {
        if (code != 0 && Communicator.LaunchedSize() > 1) Communicator.World.Abort(code);
        return code;
    }

    public static Command Eval()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a HieraRS checkpoint", Required = true };
        var config = new Option<string?>("--config") { Description = "experiment YAML whose data.val to use (default: the one stored in the checkpoint)" };
        var root = new Option<string?>("--data-root") { Description = "another copy of the data with the same layout" };
        var split = new Option<string?>("--split") { Description = "split to evaluate (default: the config's validation split; 'all' for every tile)" };
        var json = new Option<string?>("--json") { Description = "write the metrics JSON here" };
        var report = new Option<string?>("--report") { Description = "folder for metrics.json/.md/.csv and confusion-matrix PNGs" };
        var cmd = new Command("eval", "evaluate a checkpoint per level (whole tiles, JSPS) on a dataset; under mpirun the ranks share the tiles");
        foreach (var o in new Option[] { checkpoint, config, root, split, json, report }) cmd.Options.Add(o);
        cmd.SetAction(pr => EndJobOnError(Guard.Run(() =>
        {
            var ck = Checkpoint.Load(pr.GetValue(checkpoint)!);
            var cfg = pr.GetValue(config) is { } c ? ExperimentConfig.Load(c)
                : ck.Run is { } run ? ExperimentConfig.Of(run)
                : throw new ArgumentException("the checkpoint stores no config: give --config");
            var spec = cfg.Val ?? cfg.Train;
            if (pr.GetValue(root) is { } r) spec = spec with { Root = Path.GetFullPath(r) };
            var data = Datasets.Open(spec, pr.GetValue(split) ?? spec.Split);
            if (data.Bands != ck.Bands) throw new ArgumentException($"the data has {data.Bands} bands, the checkpoint was trained on {ck.Bands}");
            var comm = Communicator.World; // under mpirun each rank evaluates a part; rank 0 reports the sums
            var bar = comm.Rank == 0 ? new ConsoleProgress("eval", (data.Count + comm.Size - 1) / comm.Size, "tiles") : null;
            var m = Evaluator.Evaluate(ck.Model, new Renormalised(data, ck.Normalization), (k, n) => bar?.Report(k), comm: comm);
            if (comm.Rank != 0) return 0;
            Console.WriteLine($"{ck.Hierarchy.Name}: {data.Name}, {Plural.Of(data.Count, "tile")}, checkpoint at iteration {ck.Iteration}");
            Console.Write(MetricsReport.ToConsole(m));
            if (pr.GetValue(json) is { } j) { AtomicFile.WriteAllText(j, m.ToJson()); Console.WriteLine($"wrote {j}"); }
            if (pr.GetValue(report) is { } dir) Console.WriteLine($"wrote {string.Join(", ", MetricsReport.Save(m, dir).Select(Path.GetFileName))} to {dir}");
            return 0;
        })));
        return cmd;
    }

    public static Command Demo()
    {
        var outDir = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => "out/demo" };
        var iters = new Option<int?>("--iters") { Description = "training iterations (default: the demo config's 300)" };
        var cmd = new Command("demo", "train a small BHCCM model on synthetic MM-5B scenes, evaluate it, predict a held-out scene and write maps, pictures and metrics");
        foreach (var o in new Option[] { outDir, iters }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() => RunDemo(Path.GetFullPath(pr.GetValue(outDir)!), pr.GetValue(iters))));
        return cmd;
    }

    static int RunDemo(string outDir, int? iterations)
    {
        using var s = typeof(TrainCommands).Assembly.GetManifestResourceStream("demo.yaml")!;
        string text = new StreamReader(s).ReadToEnd();
        var cfg = ExperimentConfig.Parse(text, "demo.yaml", Directory.GetCurrentDirectory());
        if (iterations is { } n)
            cfg = cfg with { Run = cfg.Run with { Iterations = n, EvalInterval = Math.Min(cfg.Run.EvalInterval, n), CheckpointInterval = Math.Min(cfg.Run.CheckpointInterval, n) } };
        var result = new Trainer(cfg, Path.Combine(outDir, "train")).Run(false, new ConsoleObserver());
        var ck = Checkpoint.Load(result.Best ?? result.Latest);

        // a held-out scene, larger than the training tiles, with a nodata collar, predicted whole
        var tree = ck.Hierarchy;
        var scene = new SyntheticScene(tree, new SyntheticSceneOptions { Size = 512, NoDataCollar = 0.03 }, seed: 4242);
        var sample = scene.Render("held-out scene");
        string scenePath = Path.Combine(outDir, "scene.tif"), predPath = Path.Combine(outDir, "prediction.tif");
        scene.Write(scenePath, Path.Combine(outDir, "scene_truth.tif"));
        new ScenePredictor(ck, new PredictOptions()).Predict(scenePath, predPath);
        var pred = ClassMaps.ReadLevels(predPath, tree.Depth);
        var pictures = new List<string>();
        string ql = Path.Combine(outDir, "quicklook");
        QuickLook.Composite(sample.Image, sample.Bands, sample.Width, sample.Height, sample.Valid, "held-out scene (bands 3,2,1)").SavePng(Path.Combine(ql, "scene.png"));
        pictures.AddRange(ClassMaps.WriteQuickLooks(predPath, tree, Enumerable.Range(0, tree.Depth).ToArray(), ql, "prediction", "prediction"));
        pictures.AddRange(ClassMaps.WriteQuickLooks(ql, "truth", tree, sample.Labels, sample.Width, sample.Height, "truth"));
        var metrics = new HierarchicalMetrics(tree);
        metrics.Add(sample.Labels, pred);
        var files = MetricsReport.Save(metrics, Path.Combine(outDir, "scene_metrics"), "held-out scene");

        Console.WriteLine();
        Console.WriteLine("held-out synthetic scene (512 x 512, JSPS):");
        Console.Write(MetricsReport.ToConsole(metrics));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"training: {result.SecondsPerIteration:F2} s/iteration; peak memory {MemoryPressure.PeakResidentMegabytes():F0} MB"));
        Console.WriteLine($"written to {outDir}:");
        Console.WriteLine($"  train/best.safetensors, train/latest.safetensors  checkpoints (self-describing: `hierars checkpoint inspect`)");
        Console.WriteLine($"  train/log.jsonl, train/eval/                    training log, validation metrics and confusion matrices");
        Console.WriteLine($"  scene.tif, scene_truth.tif                      the held-out scene (GeoTIFF, UTM 50N) and its labels");
        Console.WriteLine($"  prediction.tif, prediction.vrt                  one band per level (georeferenced), as `hierars predict` writes it; the VRT in the tree's colours");
        Console.WriteLine($"  quicklook/*.png                                 the scene, prediction and truth per level, with legends");
        Console.WriteLine($"  scene_metrics/                                  {string.Join(", ", files.Select(Path.GetFileName))}");
        return 0;
    }
}

/// <summary>A dataset seen through a checkpoint's normalisation (evaluation normalises as training did).</summary>
sealed class Renormalised(ISegmentationDataset inner, Normalization norm) : ISegmentationDataset
{
    public string Name => inner.Name;
    public ClassHierarchy Hierarchy => inner.Hierarchy;
    public int Bands => inner.Bands;
    public Normalization Normalization => norm;
    public int Count => inner.Count;
    public string Id(int index) => inner.Id(index);
    public Sample Load(int index) => inner.Load(index);
}
