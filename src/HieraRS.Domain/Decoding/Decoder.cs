using HieraRS.Domain.Hierarchies;
using HieraRS.Platform;
using HieraRS.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace HieraRS.Domain.Decoding;

/// <summary>Per-level predictions from per-level logits (method.md §4).</summary>
public static class Decoder
{
    /// <summary>
    /// Joint path selection: per pixel the valid path with the largest sum of per-level log-softmax
    /// scores, emitted at every level (consistent by construction). Also the path's probability among
    /// valid paths, a confidence in [0, 1].
    /// </summary>
    public static (IntTensor[] Labels, Tensor Confidence) Jsps(ClassHierarchy tree, Tensor[] logits)
    {
        if (logits.Length != tree.Depth) throw new ArgumentException($"need logits for {Plural.Of(tree.Depth, "level")}, got {logits.Length}");
        for (int l = 0; l < tree.Depth; l++)
            if (logits[l].Rank != 4 || logits[l].Size(1) != tree.Levels[l].Count)
                throw new ArgumentException($"level {l + 1} logits {ShapeUtil.Format(logits[l].Shape)}: expected [N, {tree.Levels[l].Count}, H, W]");
        var z = logits.Select(t => t.Contiguous()).ToArray();
        int n = z[0].Size(0), h = z[0].Size(2), w = z[0].Size(3), hw = h * w;
        var labels = Enumerable.Range(0, tree.Depth).Select(_ => new long[n * hw]).ToArray();
        var confidence = new float[n * hw];
        int chunk = tree.PathCount <= 512 ? 2048 : 256, chunks = (hw + chunk - 1) / chunk; // the scores of a chunk's paths stay within a few MB
        Engine.For(n * chunks, (long)chunk * (tree.PathCount + tree.ClassCounts.Sum()) * 8, (u0, u1) =>
        {
            var work = new JspsChunkWork(tree, Math.Min(chunk, hw));
            for (int u = u0; u < u1; u++)
            {
                int o = u / chunks, i0 = u % chunks * chunk;
                work.Run(z, o, i0, Math.Min(chunk, hw - i0), hw, labels, confidence);
            }
        });
        return (labels.Select(d => new IntTensor(d, n, h, w)).ToArray(), Tensor.Wrap(confidence, n, h, w));
    }

    /// <summary>
    /// Joint path selection for one chunk of pixels, in one pass and without the [N, P, H, W] score tensor:
    /// the operations of <see cref="PathScores.Compute"/> (log-softmax per level as (z - max) - log sum exp,
    /// path sums in level order), the first best path (NaN wins) and the log-sum-exp over paths, each in
    /// the order the tensor ops take, vectorised over the chunk's pixels.
    /// </summary>
    sealed class JspsChunkWork(ClassHierarchy tree, int size)
    {
        readonly float[][] max = tree.Levels.Select(_ => new float[size]).ToArray(), logSum = tree.Levels.Select(_ => new float[size]).ToArray();
        readonly float[][] score = Enumerable.Range(0, tree.PathCount).Select(_ => new float[size]).ToArray();
        readonly float[] t = new float[size], best = new float[size], lse = new float[size];
        readonly int[] index = new int[size];
        readonly int[,] paths = tree.Paths;

        public void Run(Tensor[] z, int image, int i0, int len, int hw, long[][] labels, float[] confidence)
        {
            var t = this.t.AsSpan(0, len);
            ReadOnlySpan<float> Plane(int l, int c) => z[l].Span.Slice(((image * tree.Levels[l].Count) + c) * hw + i0, len);
            for (int l = 0; l < tree.Depth; l++)
            {
                var m = max[l].AsSpan(0, len); var s = logSum[l].AsSpan(0, len);
                Plane(l, 0).CopyTo(m);
                for (int c = 1; c < tree.Levels[l].Count; c++) TensorPrimitives.Max(m, Plane(l, c), m);
                s.Clear();
                for (int c = 0; c < tree.Levels[l].Count; c++)
                {
                    TensorPrimitives.Subtract(Plane(l, c), m, t);
                    TensorPrimitives.Exp(t, t);
                    TensorPrimitives.Add(s, t, s);
                }
                TensorPrimitives.Log(s, s);
            }
            for (int p = 0; p < tree.PathCount; p++)
            {
                var sp = score[p].AsSpan(0, len);
                for (int l = 0; l < tree.Depth; l++)
                {
                    TensorPrimitives.Subtract(Plane(l, paths[p, l]), max[l].AsSpan(0, len), t);
                    TensorPrimitives.Subtract(t, logSum[l].AsSpan(0, len), t);
                    if (l == 0) t.CopyTo(sp); else TensorPrimitives.Add(sp, t, sp);
                }
            }
            BestPath(len);
            LogSumExpOverPaths(len);
            int at = image * hw + i0;
            TensorPrimitives.Subtract(best.AsSpan(0, len), lse.AsSpan(0, len), t);
            TensorPrimitives.Exp(t, confidence.AsSpan(at, len));
            for (int l = 0; l < tree.Depth; l++)
            {
                var dst = labels[l].AsSpan(at, len);
                for (int i = 0; i < len; i++) dst[i] = paths[index[i], l];
            }
        }

        /// <summary>Per pixel the first path of largest score; a NaN score wins over numbers (the rule of <see cref="Tensor.Max(int, bool)"/>).</summary>
        void BestPath(int len)
        {
            score[0].AsSpan(0, len).CopyTo(best);
            index.AsSpan(0, len).Clear();
            for (int p = 1; p < tree.PathCount; p++)
            {
                var sp = score[p];
                for (int i = 0; i < len; i++)
                {
                    float v = sp[i], b = best[i];
                    if (v > b || float.IsNaN(v) && !float.IsNaN(b)) { best[i] = v; index[i] = p; }
                }
            }
        }

        /// <summary>log sum exp over the paths, as <see cref="Tensor.LogSumExp"/> computes it (max, -inf taken as 0, then the sum in path order).</summary>
        void LogSumExpOverPaths(int len)
        {
            var m = lse.AsSpan(0, len); var s = max[0].AsSpan(0, len); var t = this.t.AsSpan(0, len); // level 0's max is no longer needed
            score[0].AsSpan(0, len).CopyTo(m);
            for (int p = 1; p < tree.PathCount; p++) TensorPrimitives.Max(m, score[p].AsSpan(0, len), m);
            for (int i = 0; i < len; i++) if (float.IsNegativeInfinity(m[i])) m[i] = 0;
            s.Clear();
            for (int p = 0; p < tree.PathCount; p++)
            {
                TensorPrimitives.Subtract(score[p].AsSpan(0, len), m, t);
                TensorPrimitives.Exp(t, t);
                TensorPrimitives.Add(s, t, s);
            }
            TensorPrimitives.Log(s, s);
            TensorPrimitives.Add(s, m, m);
        }
    }

    /// <summary>Each level its own argmax (may form invalid paths).</summary>
    public static IntTensor[] Independent(Tensor[] logits)
    {
        using var _ = GradMode.NoGrad();
        return logits.Select(z => z.Argmax(1)).ToArray();
    }

    /// <summary>A flat model's finest prediction mapped to every level along the first valid path through each class.</summary>
    public static IntTensor[] Upward(ClassHierarchy tree, Tensor finestLogits)
    {
        using var _ = GradMode.NoGrad();
        var finest = finestLogits.Argmax(1);
        var maps = tree.UpwardMaps();
        return Enumerable.Range(0, tree.Depth).Select(l =>
        {
            var d = new long[finest.Numel];
            for (int i = 0; i < d.Length; i++) d[i] = maps[l][finest.Data[i]];
            return new IntTensor(d, finest.Shape.ToArray());
        }).ToArray();
    }
}
