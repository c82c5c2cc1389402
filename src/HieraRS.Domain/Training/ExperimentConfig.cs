using HieraRS.Platform;
using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Losses;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Training;

/// <summary>Optimizer: AdamW or SGD; no weight decay on biases, norms and BHCCM scalars.</summary>
public sealed record OptimizerSpec
{
    public string Type { get; init; } = "adamw";
    public double Lr { get; init; } = 1e-4;
    public double WeightDecay { get; init; } = 0.05;
    public double Momentum { get; init; } = 0.9;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    /// <summary>Gradient-norm clip; 0 = none.</summary>
    public double ClipGrad { get; init; }
    /// <summary>Learning-rate multiplier of the heads relative to the backbone (MMSeg's decode_head lr_mult).</summary>
    public double HeadLrMult { get; init; } = 1.0;
    /// <summary>Stage-wise learning-rate decay (MMSeg's LearningRateDecayOptimizerConstructor, decay_type stage_wise); 1 = none.</summary>
    public double LayerDecay { get; init; } = 1.0;
    /// <summary>MMSeg's num_layers of that constructor (12 in the ConvNeXt configs).</summary>
    public int DecayLayers { get; init; } = 12;

    /// <summary>SGD's defaults where they differ from AdamW's.</summary>
    public static readonly OptimizerSpec Sgd = new() { Type = "sgd", Lr = 0.01, WeightDecay = 5e-4 };

    /// <summary>The keys of a config's <c>optimizer</c> section besides <c>type</c>, which picks the defaults (<see cref="Sgd"/> or AdamW's).</summary>
    public static readonly Schema<OptimizerSpec> Schema = new(
        Fields<OptimizerSpec>.Double("lr", o => o.Lr, (o, v) => o with { Lr = v }, 0, 10),
        Fields<OptimizerSpec>.Double("weight_decay", o => o.WeightDecay, (o, v) => o with { WeightDecay = v }, 0, 10),
        Fields<OptimizerSpec>.Double("momentum", o => o.Momentum, (o, v) => o with { Momentum = v }, 0, 1),
        new Field<OptimizerSpec>
        {
            Key = "betas",
            FromYaml = (r, m, o) =>
            {
                if (r.Node(m, "betas") is not { } n) return o;
                var b = r.Doubles(n, "'betas'");
                return b.Length == 2 ? o with { Beta1 = b[0], Beta2 = b[1] } : throw r.Error(m, "'betas' must be [beta1, beta2]");
            },
            ToJson = (o, d) => d["betas"] = new[] { o.Beta1, o.Beta2 },
            FromJson = (e, o, _) => e.TryGetProperty("betas", out var b) ? o with { Beta1 = b[0].GetDouble(), Beta2 = b[1].GetDouble() } : o,
        },
        Fields<OptimizerSpec>.Double("clip_grad", o => o.ClipGrad, (o, v) => o with { ClipGrad = v }, 0, double.PositiveInfinity),
        Fields<OptimizerSpec>.Double("head_lr_mult", o => o.HeadLrMult, (o, v) => o with { HeadLrMult = v }, 0, 1000),
        Fields<OptimizerSpec>.Double("layer_decay", o => o.LayerDecay, (o, v) => o with { LayerDecay = v }, 0, 1),
        Fields<OptimizerSpec>.Int("decay_layers", o => o.DecayLayers, (o, v) => o with { DecayLayers = v }, 1, 1000));

    /// <summary>
    /// Stage id of a parameter for stage-wise decay, as MMSeg's get_stage_id_for_convnext (extended to
    /// ResNet): stem and downsampling layers 0, stage i (0-based) i + 1, everything else (the heads) the last id.
    /// </summary>
    public static int StageId(string name, int maxStageId)
    {
        if (!name.StartsWith("backbone.", StringComparison.Ordinal)) return maxStageId - 1;
        var parts = name.Split('.');
        if (parts[1] == "stages" && int.TryParse(parts[2], out int s)) return s + 1;
        if (parts[1].StartsWith("layer", StringComparison.Ordinal) && int.TryParse(parts[1]["layer".Length..], out int l)) return l;
        if (parts[1] is "downsample_layers" or "stem" or "conv1" or "bn1") return 0;
        return maxStageId - 1; // backbone output norms (norm0..3) count with the heads, as in MMSeg
    }

    public Optimizer Build(SegmentationModel model)
    {
        static bool NoDecay(string name, Tensor p) => p.Rank <= 1; // biases, norm weights, BHCCM scalars
        int layers = DecayLayers + 2;
        var groups = model.TrainableParameters()
            .GroupBy(np =>
            {
                double mult = LayerDecay < 1 ? Math.Pow(LayerDecay, layers - StageId(np.Name, layers) - 1) : 1.0;
                bool head = !np.Name.StartsWith("backbone.", StringComparison.Ordinal);
                return (Lr: head ? mult * HeadLrMult : mult, Decay: !NoDecay(np.Name, np.Parameter), Head: head);
            })
            .OrderBy(g => g.Key.Head).ThenByDescending(g => g.Key.Lr).ThenByDescending(g => g.Key.Decay)
            .Select(g => new ParamGroup(g.Select(np => np.Parameter), g.Key.Lr, g.Key.Decay ? 1.0 : 0.0,
                $"{(g.Key.Head ? "heads" : "backbone")} lr x{g.Key.Lr:G4}{(g.Key.Decay ? "" : " (no decay)")}"))
            .ToList();
        return Type == "sgd" ? new SGD(groups, Lr, Momentum, WeightDecay) : new AdamW(groups, Lr, Beta1, Beta2, 1e-8, WeightDecay);
    }
}

/// <summary>Linear warm-up then poly decay to min_lr (method.md §6).</summary>
public sealed record ScheduleSpec
{
    public long Warmup { get; init; }
    public double WarmupRatio { get; init; } = 1e-6;
    public double Power { get; init; } = 1.0;
    public double MinLr { get; init; }

    /// <summary>The keys of a config's <c>schedule</c> section.</summary>
    public static readonly Schema<ScheduleSpec> Schema = new(
        Fields<ScheduleSpec>.Int("warmup", s => (int)s.Warmup, (s, v) => s with { Warmup = v }, 0, int.MaxValue),
        Fields<ScheduleSpec>.Double("warmup_ratio", s => s.WarmupRatio, (s, v) => s with { WarmupRatio = v }, 0, 1),
        Fields<ScheduleSpec>.Double("power", s => s.Power, (s, v) => s with { Power = v }, 0, 100),
        Fields<ScheduleSpec>.Double("min_lr", s => s.MinLr, (s, v) => s with { MinLr = v }, 0, double.PositiveInfinity));

    public ILrSchedule Build(long iterations)
    {
        ILrSchedule poly = new PolyLr(iterations, Power, MinLr, begin: Warmup);
        return Warmup > 0 ? new WarmupLr(poly, Warmup, WarmupRatio) : poly;
    }
}

/// <summary>
/// The iteration budget and what happens along it. Without a <c>train</c> section: these values; with one,
/// the evaluation and checkpoint intervals default to its iteration count (once, at the end).
/// </summary>
public sealed record TrainSpec
{
    public long Iterations { get; init; } = 1000;
    public long EvalInterval { get; init; } = 500;
    public long CheckpointInterval { get; init; } = 500;
    public int LogInterval { get; init; } = 10;
    /// <summary>"L{level}.{miou|oa|macc|mf1|kappa}", "consistency" or "path_accuracy"; default: the finest level's mIoU.</summary>
    public string BestMetric { get; init; } = "";
    public int BatchSize { get; init; } = 4;
    public int Workers { get; init; } = 2;
}

/// <summary>
/// An experiment: data (train / val datasets, batch, augmentation), model, loss, optimizer, schedule,
/// iterations, seed and threads. Read strictly from YAML: an unknown or bad key is an error naming
/// the file and line. <see cref="Text"/> keeps the file as written, to store with every checkpoint.
/// </summary>
public sealed record ExperimentConfig
{
    public string Name { get; init; } = "experiment";
    public ulong Seed { get; init; }
    public int? Threads { get; init; }
    public required DatasetSpec Train { get; init; }
    public DatasetSpec? Val { get; init; }
    public Augmentation Augment { get; init; } = Augmentation.None;
    public ModelSpec Model { get; init; } = new();
    public LossKind Loss { get; init; } = LossKind.Hsc;
    public double Alpha { get; init; } = 2.0;
    /// <summary>tree_min's focal exponent.</summary>
    public double Gamma { get; init; }
    /// <summary>Cross-entropy class weights per level (null entries: unweighted), as MMSeg's class_weight.</summary>
    public double[]?[] ClassWeights { get; init; } = [];
    public OptimizerSpec Optimizer { get; init; } = new();
    public ScheduleSpec Schedule { get; init; } = new();
    public TrainSpec Run { get; init; } = new();
    /// <summary>A transfer from a source checkpoint (<c>hierars transfer</c>); null for training from a model spec.</summary>
    public TransferSpec? Transfer { get; init; }
    public string Text { get; init; } = "";
    public string Source { get; init; } = "";

    /// <summary>
    /// The same experiment under another seed (<c>--seed</c>). The stored text says so, with the top-level
    /// <c>seed:</c> line replaced or added, so the checkpoint's config alone reproduces the run.
    /// </summary>
    public ExperimentConfig WithSeed(ulong seed)
    {
        string line = $"seed: {seed}  # set by --seed";
        var key = new System.Text.RegularExpressions.Regex(@"^seed:[^\r\n]*", System.Text.RegularExpressions.RegexOptions.Multiline);
        string text = key.IsMatch(Text) ? key.Replace(Text, line, 1) : $"{line}\n{Text}";
        return this with { Seed = seed, Text = text };
    }

    public static ExperimentConfig Load(string path) =>
        Parse(InputFile.ReadAllText(path, "config file", YamlReader.MaxFileBytes), Path.GetFullPath(path), Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>The config a checkpoint was trained with, read as it was written (relative paths from where it was).</summary>
    public static ExperimentConfig Of(RunRecord run) =>
        Parse(run.ConfigText, run.ConfigSource, Path.GetDirectoryName(Path.GetFullPath(run.ConfigSource))!);

    public static ExperimentConfig Parse(string text, string source, string baseDir)
    {
        var r = new YamlReader(source);
        var root = r.Root(text, "'data' and 'model'");
        r.AllowedKeys(root, "name", "seed", "threads", "data", "model", "loss", "optimizer", "schedule", "train", "transfer");
        var transfer = r.Node(root, "transfer") is { } trn ? TransferSpec.Parse(r, r.Mapping(trn, "'transfer'"), baseDir) : null;
        var data = r.Mapping(r.Node(root, "data") ?? throw r.Error(root, "missing 'data'"), "'data'");
        r.AllowedKeys(data, "train", "val", "augment", "batch_size", "workers");
        var train = DatasetSpec.Parse(r, r.Mapping(r.Node(data, "train") ?? throw r.Error(data, "missing 'train'"), "'data.train'"), baseDir);
        var val = r.Node(data, "val") is { } vn ? DatasetSpec.Parse(r, r.Mapping(vn, "'data.val'"), baseDir) : null;
        var aug = r.Node(data, "augment") is { } an ? Augmentation.Parse(r, an as YamlSequenceNode ?? throw r.Error(an, "'augment' must be a list of steps")) : Augmentation.None;

        var model = new ModelSpec();
        if (r.Node(root, "model") is { } mn)
        {
            var m = r.Mapping(mn, "'model'");
            if (transfer is not null) r.AllowedKeys(m, "mode", "dropout", "sync_bn"); // the architecture comes from the source checkpoint
            r.AllowedKeys(m, [.. ModelSpec.Schema.Keys, "pretrained", "sync_bn"]);
            model = ModelSpec.Schema.FromYaml(r, m, model) with
            {
                // the ImageNet architecture starts from its ImageNet weights unless the config says otherwise
                Pretrained = r.Node(m, "pretrained") is { } pre ? PretrainedSpec.Parse(r, pre, baseDir)
                    : r.OptionalScalar(m, "backbone") == "resnet18_imagenet" ? new PretrainedSpec { Source = PretrainedSpec.ImageNet } : null,
                SyncBn = r.OptionalBool(m, "sync_bn", false),
            };
        }

        var loss = LossKind.Hsc;
        double alpha = transfer is not null ? 1.0 : 2.0, gamma = 0; // method.md: 1.0 * L_HPC in the target loss
        double[]?[] classWeights = [];
        if (r.Node(root, "loss") is { } ln)
        {
            var m = r.Mapping(ln, "'loss'");
            r.AllowedKeys(m, "type", "alpha", "weight", "gamma", "class_weights");
            if (r.Node(m, "class_weights") is { } cw)
                classWeights = (cw as YamlSequenceNode ?? throw r.Error(cw, "'class_weights' must be a list with one entry per level (a list of weights or null)"))
                    .Children.Select(c => c is YamlScalarNode { Value: null or "null" or "~" } ? null : r.Doubles(c, "a level's class weights")).ToArray();
            loss = ModelRegistry.Losses[r.Choice(m, "type", "hsc", [.. ModelRegistry.Losses.Keys])];
            alpha = loss == LossKind.TreeMin ? r.OptionalDouble(m, "weight", 1.0, 0, 1000) : r.OptionalDouble(m, "alpha", alpha, 0, 1000);
            gamma = r.OptionalScalar(m, "type") == "tree_min_focal" ? r.OptionalDouble(m, "gamma", 2.0, 0, 100) : 0;
        }
        if (transfer?.Method == "translu" && model.Mode == BhccmMode.Flat)
            throw r.Error(root, "TransLU needs a hierarchical target head: set model.mode to a BHCCM mode (bidirectional_residual), or use method finetune for the flat baselines");
        if ((loss == LossKind.Flat) != (model.Mode == BhccmMode.Flat))
            throw r.Error(root, $"loss '{(loss == LossKind.Flat ? "flat" : "hierarchical")}' needs model mode {(loss == LossKind.Flat ? "flat" : "other than flat")}");

        var opt = new OptimizerSpec();
        if (r.Node(root, "optimizer") is { } on)
        {
            var m = r.Mapping(on, "'optimizer'");
            r.AllowedKeys(m, ["type", .. OptimizerSpec.Schema.Keys]);
            string type = r.Choice(m, "type", opt.Type, opt.Type, OptimizerSpec.Sgd.Type);
            opt = OptimizerSpec.Schema.FromYaml(r, m, type == OptimizerSpec.Sgd.Type ? OptimizerSpec.Sgd : opt);
        }
        var sched = new ScheduleSpec();
        if (r.Node(root, "schedule") is { } sn)
        {
            var m = r.Mapping(sn, "'schedule'");
            r.AllowedKeys(m, ScheduleSpec.Schema.Keys);
            sched = ScheduleSpec.Schema.FromYaml(r, m, sched);
        }
        var run = new TrainSpec();
        run = run with { BatchSize = r.OptionalInt(data, "batch_size", run.BatchSize, 1, 4096), Workers = r.OptionalInt(data, "workers", run.Workers, 1, 64) };
        if (r.Node(root, "train") is { } tn)
        {
            var m = r.Mapping(tn, "'train'");
            r.AllowedKeys(m, "iterations", "eval_interval", "checkpoint_interval", "log_interval", "best_metric");
            long iters = r.OptionalInt(m, "iterations", (int)run.Iterations, 1);
            run = run with
            {
                Iterations = iters,
                EvalInterval = r.OptionalInt(m, "eval_interval", (int)Math.Min(iters, int.MaxValue), 1),
                CheckpointInterval = r.OptionalInt(m, "checkpoint_interval", (int)Math.Min(iters, int.MaxValue), 1),
                LogInterval = r.OptionalInt(m, "log_interval", run.LogInterval, 1),
                BestMetric = r.OptionalScalar(m, "best_metric") ?? run.BestMetric,
            };
        }
        return new ExperimentConfig
        {
            Name = r.OptionalScalar(root, "name") ?? Path.GetFileNameWithoutExtension(source),
            Seed = (ulong)r.OptionalInt(root, "seed", 0, 0),
            Threads = r.Node(root, "threads") is not null ? r.OptionalInt(root, "threads", 1, 1, 1024) : null,
            Train = train, Val = val, Augment = aug, Model = model, Loss = loss, Alpha = alpha, Gamma = gamma, ClassWeights = classWeights,
            Optimizer = opt, Schedule = sched, Run = run, Transfer = transfer, Text = text, Source = source,
        };
    }
}
