using System.Numerics.Tensors;

namespace HieraRS.Tensors;

public static partial class F
{
    /// <summary>
    /// Batch normalisation over [N, C, ...]. In training, batch statistics (biased variance) normalise
    /// and the running buffers are updated in place with the unbiased variance, as PyTorch does. With
    /// <paramref name="sumOverProcesses"/> (synchronised batch norm), the statistics are those of the
    /// batches of all processes together: the delegate replaces its values by their sums over the processes,
    /// and every process calls it the same number of times (twice forward, once backward).
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, float momentum = 0.1f, float eps = 1e-5f, Action<Span<double>>? sumOverProcesses = null)
    {
        if (x.Rank < 2) throw new ArgumentException($"batch_norm expects [N, C, ...], got {ShapeUtil.Format(x.Shape)}");
        int n = x.Size(0), c = x.Size(1), s = x.Numel / Math.Max(n * c, 1);
        long local = (long)n * s;
        if (!training && (runningMean is null || runningVar is null)) throw new ArgumentException("batch_norm in eval mode needs running statistics");
        var sync = training ? sumOverProcesses : null;
        long m = sync is null ? local : (long)SumOver(sync, local);
        if (training && m <= 1) throw new ArgumentException($"batch_norm in training needs more than one value per channel, got input {ShapeUtil.Format(x.Shape)}");
        var xc = x.Contiguous();
        float[] xs = xc.Storage; int xo = xc.Offset;
        var w = weight?.Contiguous(); var b = bias?.Contiguous();
        var mean = new float[c]; var invstd = new float[c];
        var y = Tensor.Empty(x.Shape.ToArray());
        float[] ys = y.Storage;
        Span<float> Row(float[] data, int offset, int i, int ch) => data.AsSpan(offset + (i * c + ch) * s, s);
        double Sum(int ch) { double t = 0; for (int i = 0; i < n; i++) t += SpanMath.SumDouble(Row(xs, xo, i, ch)); return t; }
        double SquaredDeviation(int ch, float mu) { double t = 0; for (int i = 0; i < n; i++) t += SpanMath.SumSquaredDeviation(Row(xs, xo, i, ch), mu); return t; }
        void Normalize(int ch, float mu, float var, double sq)
        {
            if (training)
            {
                if (runningMean is not null) runningMean.Storage[runningMean.Offset + ch] = (1 - momentum) * runningMean.Storage[runningMean.Offset + ch] + momentum * mu;
                if (runningVar is not null) runningVar.Storage[runningVar.Offset + ch] = (1 - momentum) * runningVar.Storage[runningVar.Offset + ch] + momentum * (float)(sq / (m - 1));
            }
            float inv = 1f / MathF.Sqrt(var + eps);
            mean[ch] = mu; invstd[ch] = inv;
            float scale = inv * (w is null ? 1f : w.Storage[w.Offset + ch]);
            float shift = (b is null ? 0f : b.Storage[b.Offset + ch]) - mu * scale;
            for (int i = 0; i < n; i++) SpanMath.ScaleShift(Row(xs, xo, i, ch), scale, shift, ys.AsSpan((i * c + ch) * s, s));
        }
        if (sync is null)
            Engine.For(c, m, (c0, c1) =>
            {
                for (int ch = c0; ch < c1; ch++)
                {
                    if (!training) { Normalize(ch, runningMean!.Storage[runningMean.Offset + ch], runningVar!.Storage[runningVar.Offset + ch], 0); continue; }
                    float mu = (float)(Sum(ch) / m);
                    double sq = SquaredDeviation(ch, mu);
                    Normalize(ch, mu, (float)(sq / m), sq);
                }
            });
        else
        {
            // the same sums in three passes, each channel's partial sums added over the processes in between
            var sums = new double[c];
            Engine.For(c, local, (c0, c1) => { for (int ch = c0; ch < c1; ch++) sums[ch] = Sum(ch); });
            sync(sums);
            var mus = sums.Select(t => (float)(t / m)).ToArray();
            Engine.For(c, local, (c0, c1) => { for (int ch = c0; ch < c1; ch++) sums[ch] = SquaredDeviation(ch, mus[ch]); });
            sync(sums);
            Engine.For(c, local, (c0, c1) => { for (int ch = c0; ch < c1; ch++) Normalize(ch, mus[ch], (float)(sums[ch] / m), sums[ch]); });
        }
        bool needX = x.RequiresGrad;
        var xShape = x.Shape.ToArray();
        return Tensor.Record(y, "batch_norm", AffineInputs(x, weight, bias), gy =>
        {
            var gc = gy.Contiguous();
            float[] gs = gc.Storage; int go = gc.Offset;
            Tensor? gx = needX ? Tensor.Empty(xShape) : null;
            var gw = new float[c]; var gb = new float[c];
            // per channel: sum(g) and sum(g * x) over this process's values
            (double G, double Gx) Sums(int ch)
            {
                double sg = 0, sgx = 0;
                for (int i = 0; i < n; i++)
                {
                    var grow = Row(gs, go, i, ch);
                    sg += SpanMath.SumDouble(grow);
                    sgx += SpanMath.DotDouble(grow, Row(xs, xo, i, ch));
                }
                return (sg, sgx);
            }
            // sum(g * xhat) = invstd * (sum(g*x) - mu * sum(g)); the weight's and bias's gradients are this process's,
            // the input's uses the sums over all processes (synchronised)
            void Backward(int ch, double sg, double sgx, double allG, double allGx)
            {
                float mu = mean[ch], inv = invstd[ch];
                gw[ch] = (float)(inv * (sgx - mu * sg)); gb[ch] = (float)sg;
                if (gx is null) return;
                float wv = w is null ? 1f : w.Storage[w.Offset + ch];
                double sgxhat = inv * (allGx - mu * allG);
                // training: dx = k * (g - mean(g) - (x - mu) * inv * mean(g*xhat)), k = w*inv
                //         = g*k + (x - mu)*(-k*bc) - k*mean(g),  bc = inv * mean(g*xhat)
                // (centred: x*(-k*bc) + k*mu*bc would cancel where |mu| >> std)
                float k = wv * inv, bc = training ? (float)(sgxhat / m) * inv : 0f, a = training ? (float)(allG / m) : 0f;
                for (int i = 0; i < n; i++)
                    SpanMath.AxpbyCentered(Row(gs, go, i, ch), k, Row(xs, xo, i, ch), mu, -k * bc, -k * a, gx.Storage.AsSpan((i * c + ch) * s, s));
            }
            if (sync is null)
                Engine.For(c, local, (c0, c1) =>
                {
                    for (int ch = c0; ch < c1; ch++) { var (sg, sgx) = Sums(ch); Backward(ch, sg, sgx, sg, sgx); }
                });
            else
            {
                var own = new double[2 * c];
                Engine.For(c, local, (c0, c1) => { for (int ch = c0; ch < c1; ch++) (own[ch], own[c + ch]) = Sums(ch); });
                var all = (double[])own.Clone();
                sync(all);
                Engine.For(c, local, (c0, c1) => { for (int ch = c0; ch < c1; ch++) Backward(ch, own[ch], own[c + ch], all[ch], all[c + ch]); });
            }
            var grads = new List<Tensor?> { gx };
            if (weight is not null) grads.Add(weight.RequiresGrad ? Tensor.FromArray(gw, c) : null);
            if (bias is not null) grads.Add(bias.RequiresGrad ? Tensor.FromArray(gb, c) : null);
            return grads.ToArray();
        });
    }

    static double SumOver(Action<Span<double>> sum, double value)
    {
        Span<double> one = [value];
        sum(one);
        return one[0];
    }

    /// <summary>Group normalisation over [N, C, ...] with per-channel affine parameters.</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps = 1e-5f)
    {
        int n = x.Size(0), c = x.Size(1);
        if (c % groups != 0) throw new ArgumentException($"group_norm: {c} channels do not split into {groups} groups");
        return NormalizedAffine("group_norm", x, n * groups, x.Numel / (n * groups), 1, 1, weight, bias, eps);
    }

    /// <summary>
    /// Layer normalisation over one dim: the last (channels-last tokens) or dim 1 of [N, C, H, W]
    /// (channels-first, as ConvNeXt's LayerNorm2d).
    /// </summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps = 1e-5f, int dim = -1)
    {
        int d = ShapeUtil.NormDim(dim, x.Rank);
        var (outer, size, inner) = ShapeUtil.Split3(x.Shape, d);
        return NormalizedAffine("layer_norm", x, outer, size, inner, d, weight, bias, eps);
    }

    /// <summary>
    /// Normalises x viewed as [outer, size, inner] over its middle dim, then scales and shifts by
    /// per-channel weight and bias along <paramref name="affineDim"/> of x.
    /// </summary>
    static Tensor NormalizedAffine(string name, Tensor x, int outer, int size, int inner, int affineDim, Tensor? weight, Tensor? bias, float eps)
    {
        var (stat, xhat) = Normalize(x.Contiguous(), outer, size, inner, eps);
        var affShape = new int[x.Rank]; Array.Fill(affShape, 1); affShape[affineDim] = x.Size(affineDim);
        var y = xhat;
        if (weight is not null) y = Tensor.Binary(y, weight.Detach().Reshape(affShape), BinaryOp.Mul);
        if (bias is not null) y = Tensor.Binary(y, bias.Detach().Reshape(affShape), BinaryOp.Add);
        if (ReferenceEquals(y, xhat)) y = xhat.CloneData(); // the output must not alias the saved xhat
        bool needX = x.RequiresGrad;
        var others = Enumerable.Range(0, x.Rank).Where(i => i != affineDim).ToArray();
        return Tensor.Record(y, name, AffineInputs(x, weight, bias), gy =>
        {
            var gxhat = weight is null ? gy.Contiguous() : Tensor.Binary(gy, weight.Detach().Reshape(affShape), BinaryOp.Mul);
            var gx = needX ? NormalizeBackward(gxhat, xhat, stat, outer, size, inner) : null;
            return AffineGrads(gx, gy, xhat, weight, bias, others);
        });
    }

    static Tensor[] AffineInputs(Tensor x, Tensor? w, Tensor? b)
    {
        var l = new List<Tensor> { x };
        if (w is not null) l.Add(w);
        if (b is not null) l.Add(b);
        return l.ToArray();
    }

    static Tensor?[] AffineGrads(Tensor? gx, Tensor gy, Tensor xhat, Tensor? w, Tensor? b, int[] reduceDims)
    {
        var l = new List<Tensor?> { gx };
        if (w is not null) l.Add(w.RequiresGrad ? Tensor.Binary(gy, xhat, BinaryOp.Mul).Sum(reduceDims).Reshape(w.Shape.ToArray()) : null);
        if (b is not null) l.Add(b.RequiresGrad ? gy.Sum(reduceDims).Reshape(b.Shape.ToArray()) : null);
        return l.ToArray();
    }

    /// <summary>
    /// xhat = (x - mean) * invstd over the middle dim of [outer, D, inner]; returns invstd per
    /// (outer, inner) position and xhat.
    /// </summary>
    static (float[] InvStd, Tensor XHat) Normalize(Tensor xc, int outer, int size, int inner, float eps)
    {
        var xhat = Tensor.Empty(xc.Shape.ToArray());
        var invstd = new float[outer * inner];
        float[] xs = xc.Storage, ys = xhat.Storage; int xo = xc.Offset;
        Engine.For(outer, (long)size * inner, (o0, o1) =>
        {
            var mean = new double[inner]; var sq = new double[inner];
            for (int o = o0; o < o1; o++)
            {
                Array.Clear(mean); Array.Clear(sq);
                int b = o * size * inner;
                if (inner == 1)
                {
                    var row = xs.AsSpan(xo + b, size);
                    double mu = SpanMath.SumDouble(row) / size;
                    float inv = (float)(1.0 / Math.Sqrt(SpanMath.SumSquaredDeviation(row, (float)mu) / size + eps));
                    invstd[o] = inv;
                    SpanMath.ScaleShift(row, inv, (float)(-mu * inv), ys.AsSpan(b, size));
                    continue;
                }
                for (int k = 0; k < size; k++)
                    for (int i = 0; i < inner; i++) mean[i] += xs[xo + b + k * inner + i];
                for (int i = 0; i < inner; i++) mean[i] /= size;
                for (int k = 0; k < size; k++)
                    for (int i = 0; i < inner; i++) { double dv = xs[xo + b + k * inner + i] - mean[i]; sq[i] += dv * dv; }
                for (int i = 0; i < inner; i++) invstd[o * inner + i] = (float)(1.0 / Math.Sqrt(sq[i] / size + eps));
                for (int k = 0; k < size; k++)
                    for (int i = 0; i < inner; i++)
                        ys[b + k * inner + i] = (float)((xs[xo + b + k * inner + i] - mean[i]) * invstd[o * inner + i]);
            }
        });
        return (invstd, xhat);
    }

    /// <summary>dx = invstd * (g - mean(g) - xhat * mean(g * xhat)) over the normalised dim.</summary>
    static Tensor NormalizeBackward(Tensor gxhat, Tensor xhat, float[] invstd, int outer, int size, int inner)
    {
        var gc = gxhat.Contiguous();
        var gx = Tensor.Empty(xhat.Shape.ToArray());
        float[] gs = gc.Storage, hs = xhat.Storage, ds = gx.Storage; int go = gc.Offset;
        Engine.For(outer, (long)size * inner, (o0, o1) =>
        {
            var sg = new double[inner]; var sgx = new double[inner];
            for (int o = o0; o < o1; o++)
            {
                Array.Clear(sg); Array.Clear(sgx);
                int b = o * size * inner;
                if (inner == 1)
                {
                    var grow = gs.AsSpan(go + b, size); var hrow = hs.AsSpan(b, size);
                    float a = TensorPrimitives.Sum(grow) / size, c = TensorPrimitives.Dot(grow, hrow) / size, inv = invstd[o];
                    for (int k = 0; k < size; k++) ds[b + k] = inv * (grow[k] - a - hrow[k] * c);
                    continue;
                }
                for (int k = 0; k < size; k++)
                    for (int i = 0; i < inner; i++) { float g = gs[go + b + k * inner + i]; sg[i] += g; sgx[i] += g * hs[b + k * inner + i]; }
                for (int k = 0; k < size; k++)
                    for (int i = 0; i < inner; i++)
                    {
                        int p = b + k * inner + i;
                        ds[p] = (float)(invstd[o * inner + i] * (gs[go + p] - sg[i] / size - hs[p] * sgx[i] / size));
                    }
            }
        });
        return gx;
    }
}
