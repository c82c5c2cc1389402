using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>A checkpoint's network on our engine, as the scene predictor's window model: per-level logits.</summary>
public sealed class NativeWindowModel : IWindowModel
{
    readonly Checkpoint ck;

    public NativeWindowModel(Checkpoint checkpoint)
    {
        ck = checkpoint;
        ck.Model.Inference(); // the weights stay fixed from here: convolutions run with their batch norms folded in
    }

    public ClassHierarchy Hierarchy => ck.Hierarchy;
    public Normalization Normalization => ck.Normalization;
    public bool Flat => ck.Model.Head.Mode == BhccmMode.Flat;
    public int[] ClassCounts => Flat ? [ck.Hierarchy.Levels[^1].Count] : ck.Hierarchy.ClassCounts;
    public int? Window => null;
    public string Identity => $"{ck.Iteration}|{ck.Metadata.GetValueOrDefault("rng", "")}";

    /// <summary>2: two windows per pass are 4-12 % faster than one on the demo network for 30-90 MB (docs/performance.md), and the maps are byte for byte the same.</summary>
    public int DefaultBatch => 2;

    public float[][] Forward(float[] batch, int n, int win)
    {
        using var _ = GradMode.NoGrad();
        return ck.Model.Predict(Tensor.Wrap(batch, n, Normalization.Bands, win, win)).Select(z => z.AsArray()).ToArray();
    }
}

/// <summary>A window model applied to batches of normalised windows: per-level scores, averaged over the test-time augmentation views.</summary>
sealed class WindowNetwork(IWindowModel model, int window, string tta)
{
    readonly (int Rot, bool Flip)[] views = Tta.Views(tta);

    /// <summary>Scores of every level as [batch, K_l, window, window].</summary>
    public float[][] Logits(IReadOnlyList<ReadWindow> windows)
    {
        int n = windows.Count, px = window * window, bands = model.Normalization.Bands;
        var x = new float[n * bands * px];
        for (int i = 0; i < n; i++) windows[i].Image.CopyTo(x.AsSpan(i * bands * px));
        var input = Tensor.Wrap(x, n, bands, window, window);
        Tensor[]? sum = null;
        foreach (var v in views)
        {
            var view = v == (0, false) ? x : Tta.Apply(input, v).AsArray();
            var outs = model.Forward(view, n, window).Select((s, l) => Tta.Invert(Tensor.Wrap(s, n, model.ClassCounts[l], window, window), v)).ToArray();
            sum = sum is null ? outs : sum.Zip(outs, (a, b) => a + b).ToArray();
        }
        if (views.Length > 1) sum = sum!.Select(z => z / views.Length).ToArray();
        return sum!.Select(z => z.AsArray()).ToArray(); // one view: the network's own arrays, no copy (tensors count their own bytes towards the next collection)
    }
}
