using HieraRS.Domain.Data;
using HieraRS.Domain.Decoding;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Metrics;
using HieraRS.Domain.Models;
using HieraRS.NN.Distributed;
using HieraRS.Tensors;

namespace HieraRS.Domain.Training;

/// <summary>
/// Whole-tile evaluation: each sample predicted at its full size, logits upsampled to it, decoded by
/// JSPS (hierarchical heads) or mapped upward from the finest level (flat heads), and scored per
/// level against its labels (nodata and unlabelled pixels ignored). Under a communicator of several
/// processes each takes every Size-th tile from its rank and the counts are summed, so every rank gets
/// the metrics one process would (counts are integers: exactly).
/// </summary>
public static class Evaluator
{
    public static HierarchicalMetrics Evaluate(SegmentationModel model, ISegmentationDataset data, Action<int, int>? progress = null, int workers = 2,
        ICommunicator? comm = null)
    {
        comm ??= SingleProcess.Instance;
        var tree = data.Hierarchy;
        var part = comm.Size == 1 ? data : new DatasetPart(data, comm.Rank, comm.Size);
        var metrics = new HierarchicalMetrics(tree);
        bool was = model.Training;
        var inference = model.Inference(); // the weights stay as they are during the pass: convolutions run folded
        int done = 0;
        try
        {
            foreach (var batch in DataLoader.Pass(part, 1, workers))
            {
                var pred = Decode(model, tree, batch.Image);
                var s = batch.Samples[0];
                metrics.Add(s.Labels, pred.Select(p => p.Data.Select(v => (byte)v).ToArray()).ToArray());
                progress?.Invoke(++done, part.Count);
            }
        }
        finally
        {
            inference.Dispose();
            model.Train(was);
        }
        if (comm.Size == 1) return metrics;
        var tallies = metrics.Tallies();
        comm.AllReduceSum(tallies);
        return HierarchicalMetrics.FromTallies(tree, tallies);
    }

    /// <summary>Per-level labels [N, H, W] for a normalised batch (JSPS, or upward mapping for flat heads).</summary>
    public static IntTensor[] Decode(SegmentationModel model, ClassHierarchy tree, Tensor image)
    {
        using var _ = GradMode.NoGrad();
        var logits = model.Predict(image);
        return model.Head.Mode == BhccmMode.Flat ? Decoder.Upward(tree, logits[0]) : Decoder.Jsps(tree, logits).Labels;
    }
}
