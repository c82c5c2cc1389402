using HieraRS.Domain.Hierarchies;

namespace HieraRS.Domain.Metrics;

/// <summary>Streaming K x K confusion counts (rows: truth, columns: prediction) in 64-bit.</summary>
public sealed class ConfusionMatrix(int classes)
{
    public int Classes { get; } = classes > 0 && classes <= 255 ? classes : throw new ArgumentOutOfRangeException(nameof(classes));
    public long[] Counts { get; } = new long[classes * classes];

    public long this[int truth, int pred] => Counts[truth * Classes + pred];

    /// <summary>Adds pixels; truth equal to <see cref="ClassHierarchy.NoClass"/> is skipped, any other value must be a class.</summary>
    public void Add(ReadOnlySpan<byte> truth, ReadOnlySpan<byte> pred)
    {
        if (truth.Length != pred.Length) throw new ArgumentException($"truth has {truth.Length} pixels, prediction {pred.Length}");
        for (int i = 0; i < truth.Length; i++)
        {
            int t = truth[i];
            if (t == ClassHierarchy.NoClass) continue;
            int p = pred[i];
            if (t >= Classes || p >= Classes)
                throw new ArgumentException($"pixel {i}: class {(t >= Classes ? t : p)} outside 0..{Classes - 1} ({(t >= Classes ? "truth" : "prediction")})");
            Counts[t * Classes + p]++;
        }
    }

    public void Add(ConfusionMatrix other)
    {
        if (other.Classes != Classes) throw new ArgumentException("confusion matrices of different sizes");
        for (int i = 0; i < Counts.Length; i++) Counts[i] += other.Counts[i];
    }

    public long Total => Counts.Sum();
}

/// <summary>
/// Scores of one level from its confusion matrix. Per-class values are NaN for classes absent from
/// both truth and prediction; the means (mIoU, mAcc, mF1) average the classes present in truth or
/// prediction. A present class with no predictions has precision 0 (and F1 0); one absent from the
/// truth has recall 0. Everything is NaN when no pixel was evaluated.
/// </summary>
public sealed class LevelScores
{
    public double[] Iou { get; }
    public double[] Precision { get; }
    public double[] Recall { get; }
    public double[] F1 { get; }
    public double MIoU { get; }
    public double MAcc { get; }
    public double MF1 { get; }
    public double OverallAccuracy { get; }
    public double Kappa { get; }
    public long Pixels { get; }

    public LevelScores(ConfusionMatrix cm)
    {
        int k = cm.Classes;
        (Iou, Precision, Recall, F1) = (new double[k], new double[k], new double[k], new double[k]);
        var rows = new long[k]; var cols = new long[k];
        long total = 0, diag = 0;
        for (int t = 0; t < k; t++)
            for (int p = 0; p < k; p++)
            {
                long v = cm[t, p];
                rows[t] += v; cols[p] += v; total += v;
                if (t == p) diag += v;
            }
        Pixels = total;
        var present = new List<int>();
        for (int c = 0; c < k; c++)
        {
            if (rows[c] + cols[c] == 0) { Iou[c] = Precision[c] = Recall[c] = F1[c] = double.NaN; continue; }
            present.Add(c);
            double tp = cm[c, c];
            Iou[c] = tp / (rows[c] + cols[c] - tp);
            Precision[c] = cols[c] > 0 ? tp / cols[c] : 0;
            Recall[c] = rows[c] > 0 ? tp / rows[c] : 0;
            F1[c] = Precision[c] + Recall[c] > 0 ? 2 * Precision[c] * Recall[c] / (Precision[c] + Recall[c]) : 0;
        }
        MIoU = present.Count > 0 ? present.Average(c => Iou[c]) : double.NaN;
        MAcc = present.Count > 0 ? present.Average(c => Recall[c]) : double.NaN;
        MF1 = present.Count > 0 ? present.Average(c => F1[c]) : double.NaN;
        if (total == 0) { OverallAccuracy = Kappa = double.NaN; return; }
        double po = (double)diag / total, pe = 0;
        for (int c = 0; c < k; c++) pe += (double)rows[c] * cols[c];
        pe /= (double)total * total;
        OverallAccuracy = po;
        Kappa = pe < 1 ? (po - pe) / (1 - pe) : 1.0; // pe == 1: one class everywhere, predicted so
    }
}
