using HieraRS.Domain.Models;
using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>The network applied to batches of normalised windows: per-level logits, averaged over the test-time augmentation views.</summary>
sealed class WindowNetwork(SegmentationModel model, int bands, int window, string tta)
{
    readonly (int Rot, bool Flip)[] views = Tta.Views(tta);

    /// <summary>Logits of every level as [batch, K_l, window, window].</summary>
    public float[][] Logits(IReadOnlyList<ReadWindow> windows)
    {
        int n = windows.Count, px = window * window;
        var x = new float[n * bands * px];
        for (int i = 0; i < n; i++) windows[i].Image.CopyTo(x.AsSpan(i * bands * px));
        using var _ = GradMode.NoGrad();
        var input = Tensor.FromArray(x, n, bands, window, window);
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
}
