namespace HieraRS.Tensors;

/// <summary>How per-element losses are combined.</summary>
public enum Reduction
{
    /// <summary>PyTorch's default: sum(w_t * l) / sum(w_t) over non-ignored elements (NaN if all are ignored).</summary>
    Mean,
    /// <summary>MMSegmentation's default: sum(w_t * l) / number of all elements, ignored ones counting as zero.</summary>
    MeanAll,
    Sum,
    None,
}

public static partial class F
{
    /// <summary>
    /// Cross-entropy of logits [N, C, ...] against class indices [N, ...], with optional class
    /// weights and an ignored label value.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, IntTensor target, Tensor? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        if (logits.Rank < 2) throw new ArgumentException($"cross_entropy expects logits [N, C, ...], got {ShapeUtil.Format(logits.Shape)}");
        int n = logits.Size(0), c = logits.Size(1), s = logits.Numel / Math.Max(n * c, 1);
        var expected = logits.Shape.ToArray().Where((_, i) => i != 1).ToArray();
        if (!ShapeUtil.SameShape(target.Shape, expected))
            throw new ArgumentException($"cross_entropy: target shape {ShapeUtil.Format(target.Shape)} does not match logits {ShapeUtil.Format(logits.Shape)} (expected {ShapeUtil.Format(expected)})");
        if (weight is not null && weight.Numel != c) throw new ArgumentException($"cross_entropy: {weight.Numel} class weights for {c} classes");
        var w = weight?.Contiguous().Span.ToArray();
        var logp = logits.SoftmaxKernel(1, log: true);
        float[] lp = logp.Storage;
        var t = target.Data;
        var elem = new float[n * s];
        var wt = new float[n * s];
        // per image: loss and weight sums (combined in image order, so results do not depend on threads)
        var lossSum = new double[n]; var weightSum = new double[n];
        var bad = new long[n];
        Engine.For(n, s, (i0, i1) =>
        {
            for (int i = i0; i < i1; i++)
            {
                double ls = 0, ws = 0;
                bad[i] = -1;
                for (int k = 0; k < s; k++)
                {
                    long tv = t[i * s + k];
                    if (tv == ignoreIndex) continue;
                    if ((ulong)tv >= (ulong)c) { bad[i] = i * (long)s + k; break; }
                    float wv = w is null ? 1f : w[tv];
                    float l = -wv * lp[(i * c + (int)tv) * s + k];
                    wt[i * s + k] = wv; elem[i * s + k] = l;
                    ls += l; ws += wv;
                }
                lossSum[i] = ls; weightSum[i] = ws;
            }
        });
        foreach (long pos in bad)
            if (pos >= 0)
                throw new ArgumentException($"cross_entropy: target value {t[pos]} at flat position {pos} is outside [0, {c}) and is not the ignore index {ignoreIndex}");
        double denom = reduction switch
        {
            Reduction.Mean => weightSum.Sum(),
            Reduction.MeanAll => n * s,
            _ => 1.0,
        };
        Tensor y = reduction == Reduction.None
            ? Tensor.FromArray(elem, expected)
            : Tensor.Scalar((float)(lossSum.Sum() / denom));
        var logitShape = logits.Shape.ToArray();
        return Tensor.Record(y, "cross_entropy", logits, g =>
        {
            var gc = g.Contiguous();
            var coef = new float[n * s];
            if (reduction == Reduction.None) System.Numerics.Tensors.TensorPrimitives.Multiply(wt, gc.Storage.AsSpan(gc.Offset, n * s), coef);
            else System.Numerics.Tensors.TensorPrimitives.Multiply(wt, (float)(gc.Storage[gc.Offset] / denom), coef);
            var gx = Tensor.Empty(n, c, s);
            float[] gs = gx.Storage;
            // d loss / d logits = coef * (softmax - onehot(target)), softmax = exp(log_softmax)
            Engine.For(n * c, s, (p0, p1) =>
            {
                for (int p = p0; p < p1; p++)
                {
                    var dst = gs.AsSpan(p * s, s);
                    System.Numerics.Tensors.TensorPrimitives.Exp(lp.AsSpan(p * s, s), dst);
                    System.Numerics.Tensors.TensorPrimitives.Multiply(dst, coef.AsSpan(p / c * s, s), dst);
                }
            });
            // minus coef at each pixel's target class (ignored pixels have coef 0 and may hold any label)
            Engine.For(n, s, (i0, i1) =>
            {
                for (int i = i0; i < i1; i++)
                    for (int k = 0; k < s; k++)
                    {
                        float cf = coef[i * s + k];
                        if (cf != 0f) gs[(i * c + (int)t[i * s + k]) * s + k] -= cf;
                    }
            });
            return gx.Reshape(logitShape);
        });
    }
}
