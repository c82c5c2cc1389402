using HieraRS.Domain.Data;
using HieraRS.Domain.Decoding;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Metrics;
using HieraRS.Domain.Models;
using HieraRS.Tensors;

namespace HieraRS.Domain.Training;

/// <summary>
/// Whole-tile evaluation: each sample predicted at its full size, logits upsampled to it, decoded by
/// JSPS (hierarchical heads) or mapped upward from the finest level (flat heads), and scored per
/// level against its labels (nodata and unlabelled pixels ignored).
/// </summary>
public static class Evaluator
{
    public static HierarchicalMetrics Evaluate(SegmentationModel model, ISegmentationDataset data, Action<int, int>? progress = null, int workers = 2)
    {
        var tree = data.Hierarchy;
        var metrics = new HierarchicalMetrics(tree);
        bool was = model.Training;
        model.Eval();
        int done = 0;
        try
        {
            foreach (var batch in DataLoader.Pass(data, 1, workers))
            {
                var pred = Decode(model, tree, batch.Image);
                var s = batch.Samples[0];
                metrics.Add(s.Labels, pred.Select(p => p.Data.Select(v => (byte)v).ToArray()).ToArray());
                progress?.Invoke(++done, data.Count);
            }
        }
        finally { model.Train(was); }
        return metrics;
    }

    /// <summary>Per-level labels [N, H, W] for a normalised batch (JSPS, or upward mapping for flat heads).</summary>
    public static IntTensor[] Decode(SegmentationModel model, ClassHierarchy tree, Tensor image)
    {
        using var _ = GradMode.NoGrad();
        var logits = model.Predict(image);
        return model.Head.Mode == BhccmMode.Flat ? Decoder.Upward(tree, logits[0]) : Decoder.Jsps(tree, logits).Labels;
    }
}
