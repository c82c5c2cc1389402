using System.Diagnostics;
using System.Text.Json;
using HieraRS.Domain.Data;
using HieraRS.Domain.Data.Check;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Losses;
using HieraRS.Domain.Metrics;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.NN.Distributed;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Training;

/// <summary>What a trainer tells its caller as it goes (the CLI draws a progress bar from it).</summary>
public interface ITrainingObserver
{
    void Step(long iteration, long total, float loss, IReadOnlyDictionary<string, float> terms, double lr);
    void Evaluating(int done, int total);
    void Evaluated(long iteration, HierarchicalMetrics metrics);
    void Message(string text);
}

/// <summary>The outcome of a run: the last evaluation and where things were written.</summary>
public sealed record TrainResult(string WorkDir, string Latest, string? Best, HierarchicalMetrics? LastEval, double SecondsPerIteration);

/// <summary>
/// Iteration-based training: batches from the seeded loader, the loss of the config (plus the
/// auxiliary head's flat CE), optimizer and warm-up + poly schedule; a JSONL log; evaluation every N
/// iterations with the best checkpoint kept by the chosen metric; periodic checkpoints (model,
/// optimizer, iteration, RNG; written atomically) from which <c>resume</c> continues exactly as an
/// uninterrupted run would, even after kill -9. Data-parallel under MPI (<see cref="Comm"/>): every rank
/// builds the same model from the seed, takes its part of each global batch and averages gradients
/// before each step; evaluation is split across the ranks and summed; rank 0 alone writes the log and checkpoints, which resume with any
/// number of ranks.
/// </summary>
public sealed class Trainer(ExperimentConfig config, string workDir)
{
    public ExperimentConfig Config { get; } = config;
    public string WorkDir { get; } = Path.GetFullPath(workDir);
    public string LatestPath => Path.Combine(WorkDir, "latest.safetensors");
    public string BestPath => Path.Combine(WorkDir, "best.safetensors");
    string LogPath => Path.Combine(WorkDir, "log.jsonl");
    /// <summary>The processes training together (default: MPI's world when launched by mpirun, else this process alone).</summary>
    public ICommunicator Comm { get; init; } = Communicator.World;
    bool Lead => Comm.Rank == 0;

    /// <param name="stopAfter">end this session after that iteration (and its checkpoint, if one falls there), as an interruption would; the run continues with <paramref name="resume"/>.</param>
    public TrainResult Run(bool resume = false, ITrainingObserver? observer = null, long? stopAfter = null)
    {
        if (!Lead) observer = null; // the other ranks stay silent
        if (Config.Threads is { } t) Engine.Threads = t;
        var train = Datasets.Open(Config.Train, Config.Train.Split);
        var val = Config.Val is { } v ? Datasets.Open(v, v.Split) : null;
        // preprocessing follows pretrained weights that state theirs, unless the data sets 'normalize'
        if (Config.Transfer is null && Config.Model.Pretrained?.ExpectedNormalization(train.Bands) is { } expected && Config.Train.Normalize is null)
        {
            train = Datasets.Open(Config.Train with { Normalize = expected }, Config.Train.Split);
            val = Config.Val is { } vs ? Datasets.Open(vs.Normalize is null ? vs with { Normalize = expected } : vs, vs.Split) : null;
        }
        DataCheck.Require([train, val]); // every bad file at once, before the work dir is touched
        var tree = train.Hierarchy;
        if (val is not null && HierarchyWriter.ToYaml(val.Hierarchy) != HierarchyWriter.ToYaml(tree))
            throw new ArgumentException($"the validation data uses hierarchy '{val.Hierarchy.Name}', training '{tree.Name}'");
        var cfgPath = Path.Combine(WorkDir, "config.yaml");
        if (Lead) AtomicFile.WriteAllText(cfgPath, Config.Text);

        // a transfer takes its architecture and starting weights from the source checkpoint
        var source = Config.Transfer is { } tr ? Checkpoint.Load(tr.Source) : null;
        var spec = source is null ? Config.Model : Config.Transfer!.TargetSpec(source, Config.Model);
        var transfer = source is null ? null : Config.Transfer!.Record(source);
        if (source is not null && (!source.Normalization.Mean.SequenceEqual(train.Normalization.Mean) || !source.Normalization.Std.SequenceEqual(train.Normalization.Std)))
            observer?.Message($"note: the target data's normalisation differs from the source checkpoint's; the source branch sees the target's");
        Engine.ManualSeed(Config.Seed);
        var model = source is null ? spec.Build(tree, train.Bands) : Config.Transfer!.Build(source, spec, tree, train.Bands, observer is null ? null : observer.Message);
        if (source is null && spec.Pretrained is { } pretrained && !(resume && File.Exists(LatestPath))) // a resumed run has its weights
            observer?.Message(pretrained.LoadInto((Segmentor)model, train.Bands).Table().TrimEnd());
        var optimizer = Config.Optimizer.Build(model);
        var schedule = Config.Schedule.Build(Config.Run.Iterations);
        if (Config.ClassWeights.Length > 0 && Config.ClassWeights.Length != tree.Depth)
            throw new ArgumentException($"loss.class_weights has {Plural.Of(Config.ClassWeights.Length, "entry")}; the tree '{tree.Name}' has {Plural.Of(tree.Depth, "level")}");
        for (int l = 0; l < Config.ClassWeights.Length; l++)
            if (Config.ClassWeights[l] is { } w && w.Length != tree.Levels[l].Count)
                throw new ArgumentException($"loss.class_weights of level {l + 1} has {Plural.Of(w.Length, "value")}; the level has {Plural.Of(tree.Levels[l].Count, "class")}");
        var weights = Config.ClassWeights.Length == 0 ? null
            : Config.ClassWeights.Select(w => w is null ? null : Tensor.FromArray(w.Select(v => (float)v).ToArray(), w.Length)).ToArray();
        var loss = new HierarchicalLoss(tree, Config.Loss, Config.Alpha, classWeights: weights, gamma: Config.Gamma,
            counts: Comm.Size > 1 ? new GlobalCount(Comm.AllReduceSum, Comm.Size) : null); // means over valid pixels: the global batch's
        var auxLoss = new HierarchicalLoss(tree, LossKind.Flat);
        long start = 0;
        double best = double.NegativeInfinity;
        if (resume && File.Exists(LatestPath))
        {
            var ck = Checkpoint.Load(LatestPath);
            model.LoadStateDict(ck.Model.StateDict());
            if (ck.OptimizerState is { } os) optimizer.LoadStateDict(os);
            ck.RestoreRng();
            start = ck.Iteration;
            best = ck.Best ?? best;
            observer?.Message($"resumed from {LatestPath} at iteration {start}");
            Log(new { resumed = start });
        }
        else if (resume) observer?.Message($"nothing to resume in {WorkDir}: starting from iteration 0");
        if (start == 0 && Lead) File.Delete(LogPath);
        observer?.Message($"{Config.Name}: {train.Name} ({Plural.Of(train.Count, "tile")}, {Plural.Of(train.Bands, "band")}) -> {tree} {ModelRegistry.Modes.Name(Config.Model.Mode)}; " +
            $"{spec.Backbone} + {spec.Head} ({model.TrainableParameters().Sum(p => (long)p.Parameter.Numel):N0} trainable parameters); batch {Config.Run.BatchSize}; {Plural.Of(Engine.Threads, "thread")}" +
            (Comm.Size > 1 ? $" on each of {Comm.Size} ranks (MPI)" : ""));

        string bestMetric = Config.Run.BestMetric.Length > 0 ? Config.Run.BestMetric : $"L{tree.Depth}.miou";
        HierarchicalMetrics? last = null;
        Checkpoint Snapshot(long iteration, double bestSoFar) => new()
        {
            Model = model, Spec = spec, Hierarchy = tree, Normalization = train.Normalization, Iteration = iteration, Transfer = transfer,
            Rng = Generator.Default.GetState(), Best = bestSoFar, Run = new RunRecord(Config.Text, Config.Source, Config.Seed, Engine.Threads),
        };
        using var loader = new DataLoader(train, Config.Augment, Config.Run.BatchSize, Config.Seed, startIteration: start,
            iterations: Config.Run.Iterations - start, workers: Config.Run.Workers, share: new BatchShare(Comm.Rank, Comm.Size));
        if (Config.Model.SyncBn) SyncBatchNorm.Apply(model, Comm); // a transfer's spec comes from its source; the setting from the config
        var averager = new GradientAverager(Comm, model.TrainableParameters().Select(p => p.Parameter).ToList());
        model.Train();
        var clock = Stopwatch.StartNew();
        long trained = 0;
        for (long it = start; it < Config.Run.Iterations; it++)
        {
            var batch = loader.Next();
            double lr = schedule.Lr(Config.Optimizer.Lr, it);
            optimizer.SetLr(lr);
            optimizer.ZeroGrad();
            // the other ranks draw their own dropout / drop-path masks: a stream per (seed, rank, iteration), the same again on resume
            if (Comm.Rank > 0) Engine.ManualSeed(Datasets.Hash($"rank/{Comm.Rank}/{it}", Config.Seed));
            var output = model.ForwardTrain(batch.Image);
            var (l, terms) = loss.Compute(output.Main, output.Targets(batch.Labels, batch.Samples.Select(s => (byte[]?)s.Valid).ToArray()));
            if (output.Aux is { } aux)
            {
                var (la, _) = auxLoss.Compute(aux, batch.Labels);
                terms["aux"] = la.Item();
                l = l + la * (float)Config.Model.AuxWeight;
            }
            float value = MeanOverRanks(l.Item(), terms);
            if (!float.IsFinite(value))
                throw new InvalidOperationException($"iteration {it + 1}: the loss is {value} (learning rate {lr:G3}); lower the learning rate or check the data's normalisation");
            averager.Backward(l); // gradients averaged over the ranks while the backward pass runs
            if (Config.Optimizer.ClipGrad > 0) GradClip.ClipGradNorm(model.Parameters(), Config.Optimizer.ClipGrad);
            optimizer.Step();
            trained++;
            long done = it + 1;
            observer?.Step(done, Config.Run.Iterations, value, terms, lr);
            if (done % Config.Run.LogInterval == 0 || done == Config.Run.Iterations)
            {
                var entry = new Dictionary<string, object> { ["iter"] = done, ["lr"] = lr, ["loss"] = value, ["terms"] = terms, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3) };
                if (model.Diagnostics() is { Count: > 0 } diagnostics) entry["model"] = diagnostics; // e.g. TransLU's gates
                Log(entry);
            }

            if (val is not null && (done % Config.Run.EvalInterval == 0 || done == Config.Run.Iterations))
            {
                var m = last = Evaluator.Evaluate(model, val, (k, n) => observer?.Evaluating(k, n), Config.Run.Workers, Comm); // each rank a part, all the sums
                double score = Metric(m, bestMetric);
                observer?.Evaluated(done, m);
                Log(new { iter = done, eval = JsonDocument.Parse(m.ToJson()).RootElement, metric = bestMetric, value = score });
                if (Lead) MetricsReport.Save(m, Path.Combine(WorkDir, "eval"), $"{Config.Name} @ {done}");
                if (score > best)
                {
                    best = score;
                    if (Lead) Snapshot(done, best).Save(BestPath);
                    observer?.Message($"best {bestMetric} {score:P2} at iteration {done}: {BestPath}");
                }
            }
            if (Lead && (done % Config.Run.CheckpointInterval == 0 || done == Config.Run.Iterations))
                Snapshot(done, best).Save(LatestPath, optimizer);
            if (done == stopAfter) break;
        }
        double spi = trained > 0 ? clock.Elapsed.TotalSeconds / trained : 0;
        return new TrainResult(WorkDir, LatestPath, File.Exists(BestPath) ? BestPath : null, last, spi);
    }

    /// <summary>"L{k}.{miou|macc|mf1|oa|kappa}", "consistency" or "path_accuracy".</summary>
    public static double Metric(HierarchicalMetrics m, string name)
    {
        if (name == "consistency") return m.Consistency;
        if (name == "path_accuracy") return m.PathAccuracy;
        var parts = name.Split('.');
        if (parts.Length == 2 && parts[0].StartsWith('L') && int.TryParse(parts[0][1..], out int level) && level >= 1 && level <= m.Hierarchy.Depth)
        {
            var s = m.Scores(level - 1);
            return parts[1] switch
            {
                "miou" => s.MIoU, "macc" => s.MAcc, "mf1" => s.MF1, "oa" => s.OverallAccuracy, "kappa" => s.Kappa,
                _ => throw new ArgumentException($"unknown metric '{parts[1]}' in '{name}' (miou, macc, mf1, oa, kappa)"),
            };
        }
        throw new ArgumentException($"unknown metric '{name}' (L1..L{m.Hierarchy.Depth}.miou|macc|mf1|oa|kappa, consistency, path_accuracy)");
    }

    /// <summary>The loss and its terms averaged over the ranks (the global batch's, as the log and progress show).</summary>
    float MeanOverRanks(float loss, Dictionary<string, float> terms)
    {
        if (Comm.Size == 1) return loss;
        var keys = terms.Keys.Order(StringComparer.Ordinal).ToArray();
        var values = keys.Select(k => terms[k]).Prepend(loss).ToArray();
        Comm.AllReduceSum(values);
        for (int k = 0; k < keys.Length; k++) terms[keys[k]] = values[k + 1] / Comm.Size;
        return values[0] / Comm.Size;
    }

    void Log(object entry)
    {
        if (!Lead) return;
        using var w = File.AppendText(LogPath);
        w.WriteLine(JsonSerializer.Serialize(entry));
    }
}
