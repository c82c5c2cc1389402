using System.Text.Json;
using HieraRS.Domain.Data;
using HieraRS.Domain.Export;
using HieraRS.Domain.Hierarchies;
using HieraRS.Platform;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;

namespace HieraRS.Domain.Inference;

/// <summary>
/// The network a scene predictor runs on batches of normalised windows (the seam between the scene
/// pipeline and an engine): per-level scores [n, K_l, window, window] whose per-level log-softmax is
/// the log-probabilities (logits, or log-probabilities themselves), the finest level only for a flat model.
/// </summary>
public interface IWindowModel
{
    ClassHierarchy Hierarchy { get; }
    Normalization Normalization { get; }
    /// <summary>Classes per level of the scores (only the finest level's when <see cref="Flat"/>).</summary>
    int[] ClassCounts { get; }
    bool Flat { get; }
    /// <summary>The window size the model requires, or null when any size works.</summary>
    int? Window { get; }
    /// <summary>What identifies the model for resuming a partial prediction (a checkpoint's iteration and RNG state, a file's size and time).</summary>
    string Identity { get; }
    /// <summary>Scores of <paramref name="n"/> windows of <paramref name="win"/>² pixels given as [n, bands, win, win].</summary>
    float[][] Forward(float[] batch, int n, int win);
    /// <summary>Windows per forward pass when the user names none: the fastest measured for the engine (docs/performance.md).</summary>
    int DefaultBatch { get; }
}

/// <summary>
/// A model written by <c>hierars export</c> (with probabilities) run by ONNX Runtime on the CPU, or on an
/// NVIDIA GPU through the CUDA provider when the GPU package is referenced (docs/onnx.md). Its scores are
/// the log-probabilities. A file that is not such a model is an error naming the file and what is missing.
/// </summary>
public sealed class OnnxWindowModel : IWindowModel, IDisposable
{
    readonly InferenceSession session;
    readonly string[] outputs;

    public ClassHierarchy Hierarchy { get; }
    public Normalization Normalization { get; }
    public int[] ClassCounts { get; }
    public bool Flat { get; }
    public int? Window { get; }
    public string Identity { get; }

    public OnnxWindowModel(string path, string device = "cpu")
    {
        var file = InputFile.Check(path, "ONNX model");
        Identity = $"{file.FullName}|{file.Length}|{file.LastWriteTimeUtc.Ticks}";
        session = new InferenceSession(path, Options(device));
        try
        {
            var meta = session.ModelMetadata.CustomMetadataMap;
            string Need(string key) => meta.TryGetValue(key, out var v) ? v
                : throw new InvalidDataException($"{path}: not an ONNX model written by `hierars export` (no '{key}' in its metadata)");
            if (Need("hierars.format") != OnnxMetadata.Format) throw new InvalidDataException($"{path}: ONNX format '{meta["hierars.format"]}', this build reads '{OnnxMetadata.Format}'");
            Hierarchy = HierarchyLoader.Parse(Need("hierars.hierarchy"), $"{path} (hierars.hierarchy)");
            var n = JsonDocument.Parse(Need("hierars.normalization")).RootElement;
            Normalization = new Normalization(n.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
                n.GetProperty("std").EnumerateArray().Select(e => e.GetSingle()).ToArray());
            Window = CheckInput(path, int.Parse(Need("hierars.window"), System.Globalization.CultureInfo.InvariantCulture));
            var probs = JsonDocument.Parse(Need("hierars.outputs")).RootElement.EnumerateArray()
                .Where(o => o.GetProperty("kind").GetString() == "probabilities").Select(o => (Name: o.GetProperty("name").GetString()!, Level: o.GetProperty("level").GetInt32() - 1)).ToArray();
            if (probs.Length == 0) throw new InvalidDataException($"{path}: exported with labels only; prediction blends probabilities: export with --outputs probabilities or both");
            foreach (var (name, _) in probs)
                if (!session.OutputMetadata.ContainsKey(name)) throw new InvalidDataException($"{path}: its metadata lists output '{name}', the graph has none");
            outputs = probs.Select(p => p.Name).ToArray();
            Flat = probs.Length == 1 && Hierarchy.Depth > 1;
            ClassCounts = probs.Select(p => Hierarchy.Levels[p.Level].Count).ToArray();
        }
        catch { session.Dispose(); throw; }
    }

    /// <summary>The window the input requires (null when its size is dynamic), after checking the input against the metadata.</summary>
    int? CheckInput(string path, int window)
    {
        if (!session.InputMetadata.TryGetValue(OnnxExporter.InputName, out var input) || session.InputMetadata.Count != 1)
            throw new InvalidDataException($"{path}: inputs {string.Join(", ", session.InputMetadata.Keys)}; a HieraRS model has one, '{OnnxExporter.InputName}'");
        var d = input.Dimensions;
        bool dynamic = d.Length == 4 && d[2] < 0 && d[3] < 0;
        if (d.Length != 4 || d[1] != Normalization.Bands || !dynamic && (d[2] != window || d[3] != window))
            throw new InvalidDataException($"{path}: input '{OnnxExporter.InputName}' is [{string.Join(", ", d)}], its metadata says [N, {Normalization.Bands}, {window}, {window}]");
        return dynamic ? null : window;
    }

    static SessionOptions Options(string device)
    {
        var o = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (device == "cpu") return o;
        if (device != "cuda") throw new ArgumentException($"--device {device}: cpu or cuda");
        try { o.AppendExecutionProvider_CUDA(0); }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            o.Dispose();
            throw new ArgumentException($"--device cuda: this build's ONNX Runtime has no usable CUDA provider ({e.Message.Trim()}); build with the package Microsoft.ML.OnnxRuntime.Gpu.Linux on a machine with CUDA and cuDNN (docs/onnx.md)", e);
        }
        return o;
    }

    /// <summary>1: ONNX Runtime gains nothing from batching windows here, and its arena grows with the batch (measured).</summary>
    public int DefaultBatch => 1;

    public float[][] Forward(float[] batch, int n, int win)
    {
        if (Window is { } fixedWindow && win != fixedWindow) throw new ArgumentException($"window {win}: this ONNX model was exported for {Window}");
        var input = new DenseTensor(batch, [n, Normalization.Bands, win, win]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, input)], outputs);
        return results.Select(r =>
        {
            var p = r.AsTensor<float>().ToArray();
            for (int i = 0; i < p.Length; i++) p[i] = MathF.Log(Math.Max(p[i], float.Epsilon)); // log-probabilities: JSPS's log-softmax leaves them as they are
            return p;
        }).ToArray();
    }

    public void Dispose() => session.Dispose();
}
