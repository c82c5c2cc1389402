using System.Runtime.Intrinsics;
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
        var path = new int[n * hw];
        var confidence = new float[n * hw];
        for (int image = 0; image < n; image++)
        {
            int o = image;
            JspsPaths(tree, hw, (l, c, i0, dst) => z[l].Span.Slice((o * tree.Levels[l].Count + c) * hw + i0, dst.Length).CopyTo(dst),
                path.AsSpan(image * hw, hw), confidence.AsSpan(image * hw, hw));
        }
        var paths = tree.Paths; // a copy per call
        var labels = Enumerable.Range(0, tree.Depth).Select(l =>
        {
            var d = new long[path.Length];
            for (int i = 0; i < d.Length; i++) d[i] = paths[path[i], l];
            return new IntTensor(d, n, h, w);
        }).ToArray();
        return (labels, Tensor.Wrap(confidence, n, h, w));
    }

    /// <summary>Writes the logits of class <c>c</c> of level <c>l</c> at pixels [start, start + dst.Length) into dst.</summary>
    public delegate void LogitLoader(int level, int c, int start, Span<float> dst);

    /// <summary>
    /// Joint path selection over <paramref name="pixels"/> pixels whose logits <paramref name="load"/> gives
    /// a chunk at a time: per pixel the index of the best path in <see cref="ClassHierarchy.Paths"/>, and,
    /// unless <paramref name="confidence"/> is empty, its probability among the valid paths. Chunks run in
    /// parallel; no tensor of all path scores is made.
    /// </summary>
    public static void JspsPaths(ClassHierarchy tree, int pixels, LogitLoader load, Span<int> path, Span<float> confidence)
    {
        if (path.Length < pixels || !confidence.IsEmpty && confidence.Length < pixels) throw new ArgumentException("JspsPaths: outputs shorter than the pixels");
        int chunk = tree.PathCount <= 512 ? 2048 : 256, chunks = (pixels + chunk - 1) / chunk; // the scores of a chunk's paths stay within a few MB
        bool withConfidence = !confidence.IsEmpty;
        unsafe
        {
            fixed (int* pp = path)
            fixed (float* pc = confidence)
            {
                int* pathAt = pp; float* confAt = pc;
                Engine.For(chunks, (long)chunk * (tree.PathCount + tree.ClassCounts.Sum()) * 8, (u0, u1) =>
                {
                    var work = new JspsChunkWork(tree, Math.Min(chunk, pixels));
                    for (int u = u0; u < u1; u++)
                    {
                        int i0 = u * chunk, n = Math.Min(chunk, pixels - i0);
                        work.Run(load, i0, n, new Span<int>(pathAt + i0, n), withConfidence ? new Span<float>(confAt + i0, n) : default);
                    }
                });
            }
        }
    }

    /// <summary>
    /// Joint path selection for one chunk of pixels, in one pass and without the [N, P, H, W] score tensor:
    /// the operations of <see cref="PathScores.Compute"/> (log-softmax per level as (z - max) - log sum exp,
    /// path sums in level order), the first best path (NaN wins) and the log-sum-exp over paths, each in
    /// the order the tensor ops take, vectorised over the chunk's pixels.
    /// </summary>
    sealed class JspsChunkWork(ClassHierarchy tree, int size)
    {
        readonly float[][][] z = tree.Levels.Select(level => Enumerable.Range(0, level.Count).Select(_ => new float[size]).ToArray()).ToArray(); // the chunk's logits [level][class][pixel]
        readonly float[][] max = tree.Levels.Select(_ => new float[size]).ToArray(), logSum = tree.Levels.Select(_ => new float[size]).ToArray();
        readonly float[][] score = Enumerable.Range(0, tree.PathCount).Select(_ => new float[size]).ToArray();
        readonly float[] t = new float[size], best = new float[size], lse = new float[size];
        readonly int[] index = new int[size];
        readonly int[,] paths = tree.Paths;

        public void Run(LogitLoader load, int i0, int len, Span<int> path, Span<float> confidence)
        {
            var t = this.t.AsSpan(0, len);
            for (int l = 0; l < tree.Depth; l++)
                for (int c = 0; c < tree.Levels[l].Count; c++) load(l, c, i0, z[l][c].AsSpan(0, len));
            ReadOnlySpan<float> Plane(int l, int c) => z[l][c].AsSpan(0, len);
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
            index.AsSpan(0, len).CopyTo(path);
            if (confidence.IsEmpty) return;
            LogSumExpOverPaths(len);
            TensorPrimitives.Subtract(best.AsSpan(0, len), lse.AsSpan(0, len), t);
            TensorPrimitives.Exp(t, confidence);
        }

        /// <summary>Per pixel the first path of largest score; a NaN score wins over numbers (the rule of <see cref="Tensor.Max(int, bool)"/>).</summary>
        void BestPath(int len)
        {
            score[0].AsSpan(0, len).CopyTo(best);
            index.AsSpan(0, len).Clear();
            for (int p = 1; p < tree.PathCount; p++)
            {
                var sp = score[p];
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var vp = Vector256.Create(p);
                    for (; i <= len - 8; i += 8)
                    {
                        var v = Vector256.Create(sp.AsSpan(i, 8));
                        var b = Vector256.Create(best.AsSpan(i, 8));
                        // v wins where larger, or NaN over a number (v != v: NaN)
                        var wins = Vector256.GreaterThan(v, b) | (~Vector256.Equals(v, v) & Vector256.Equals(b, b));
                        if (wins.AsInt32() == Vector256<int>.Zero) continue; // no lane changes
                        Vector256.ConditionalSelect(wins, v, b).CopyTo(best.AsSpan(i, 8));
                        Vector256.ConditionalSelect(wins.AsInt32(), vp, Vector256.Create(index.AsSpan(i, 8))).CopyTo(index.AsSpan(i, 8));
                    }
                }
                for (; i < len; i++)
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
