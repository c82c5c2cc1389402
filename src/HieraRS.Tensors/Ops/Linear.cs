namespace HieraRS.Tensors;

public sealed partial class Tensor
{
    /// <summary>Matrix product: [M,K]@[K,N], batched [B,M,K]@[B,K,N], or [...,M,K]@[K,N].</summary>
    public Tensor MatMul(Tensor other)
    {
        Tensor a = this, b = other;
        if (a.Rank >= 2 && b.Rank == 2)
        {
            int k = a.shape[^1];
            if (b.shape[0] != k) throw new ArgumentException($"matmul: {ShapeUtil.Format(a.shape)} @ {ShapeUtil.Format(b.shape)}");
            var lead = a.shape[..^1];
            var a2 = a.Reshape(-1, k);
            var y = Mm(a2, b);
            return y.Reshape([.. lead, b.shape[1]]);
        }
        if (a.Rank == 3 && b.Rank == 3) return Bmm(a, b);
        throw new ArgumentException($"matmul: unsupported shapes {ShapeUtil.Format(a.shape)} @ {ShapeUtil.Format(b.shape)}");
    }

    static Tensor Mm(Tensor a, Tensor b)
    {
        var (ac, bc) = (a.Contiguous(), b.Contiguous());
        int m = a.shape[0], k = a.shape[1], n = b.shape[1];
        var y = Empty(m, n);
        Gemm.Run(false, false, m, n, k, 1f, ac.Storage.AsSpan(ac.Offset), k, bc.Storage.AsSpan(bc.Offset), n, 0f, y.Storage, n);
        return Record(y, "mm", new[] { a, b }, g =>
        {
            var gc = g.Contiguous();
            Tensor? ga = null, gb = null;
            if (a.requiresGrad)
            {
                ga = Empty(m, k);
                Gemm.Run(false, true, m, k, n, 1f, gc.Storage.AsSpan(gc.Offset), n, bc.Storage.AsSpan(bc.Offset), n, 0f, ga.Storage, k);
            }
            if (b.requiresGrad)
            {
                gb = Empty(k, n);
                Gemm.Run(true, false, k, n, m, 1f, ac.Storage.AsSpan(ac.Offset), k, gc.Storage.AsSpan(gc.Offset), n, 0f, gb.Storage, n);
            }
            return new[] { ga, gb };
        });
    }

    static Tensor Bmm(Tensor a, Tensor b)
    {
        int bs = a.shape[0], m = a.shape[1], k = a.shape[2], n = b.shape[2];
        if (b.shape[0] != bs || b.shape[1] != k) throw new ArgumentException($"bmm: {ShapeUtil.Format(a.shape)} @ {ShapeUtil.Format(b.shape)}");
        var (ac, bc) = (a.Contiguous(), b.Contiguous());
        var y = Empty(bs, m, n);
        for (int i = 0; i < bs; i++)
            Gemm.Run(false, false, m, n, k, 1f, ac.Storage.AsSpan(ac.Offset + i * m * k), k, bc.Storage.AsSpan(bc.Offset + i * k * n), n, 0f, y.Storage.AsSpan(i * m * n), n);
        return Record(y, "bmm", new[] { a, b }, g =>
        {
            var gc = g.Contiguous();
            Tensor? ga = a.requiresGrad ? Empty(bs, m, k) : null, gb = b.requiresGrad ? Empty(bs, k, n) : null;
            for (int i = 0; i < bs; i++)
            {
                var gi = gc.Storage.AsSpan(gc.Offset + i * m * n);
                if (ga is not null) Gemm.Run(false, true, m, k, n, 1f, gi, n, bc.Storage.AsSpan(bc.Offset + i * k * n), n, 0f, ga.Storage.AsSpan(i * m * k), k);
                if (gb is not null) Gemm.Run(true, false, k, n, m, 1f, ac.Storage.AsSpan(ac.Offset + i * m * k), k, gi, n, 0f, gb.Storage.AsSpan(i * k * n), n);
            }
            return new[] { ga, gb };
        });
    }
}

public static partial class F
{
    /// <summary>y = x W^T + b over the last dim (x: [..., in], W: [out, in], b: [out]).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        int inF = weight.Size(1), outF = weight.Size(0);
        if (x.Size(-1) != inF) throw new ArgumentException($"linear: input last dim {x.Size(-1)} but weight expects {inF}");
        var lead = x.Shape[..^1].ToArray();
        var xc = x.Contiguous(); var wc = weight.Contiguous();
        int m = xc.Numel / inF;
        var y = Tensor.Empty([.. lead, outF]);
        if (bias is not null)
        {
            var bc = bias.Contiguous();
            for (int r = 0; r < m; r++) bc.Span.CopyTo(y.Storage.AsSpan(r * outF, outF));
        }
        Gemm.Run(false, true, m, outF, inF, 1f, xc.Storage.AsSpan(xc.Offset), inF, wc.Storage.AsSpan(wc.Offset), inF,
            bias is null ? 0f : 1f, y.Storage, outF);
        var inputs = bias is null ? new[] { x, weight } : new[] { x, weight, bias };
        return Tensor.Record(y, "linear", inputs, g =>
        {
            var gc = g.Contiguous();
            Tensor? gx = null, gw = null, gb = null;
            if (x.RequiresGrad)
            {
                gx = Tensor.Empty(x.Shape.ToArray());
                Gemm.Run(false, false, m, inF, outF, 1f, gc.Storage.AsSpan(gc.Offset), outF, wc.Storage.AsSpan(wc.Offset), inF, 0f, gx.Storage, inF);
            }
            if (weight.RequiresGrad)
            {
                gw = Tensor.Empty(outF, inF);
                Gemm.Run(true, false, outF, inF, m, 1f, gc.Storage.AsSpan(gc.Offset), outF, xc.Storage.AsSpan(xc.Offset), inF, 0f, gw.Storage, inF);
            }
            if (bias is not null && bias.RequiresGrad) gb = gc.Reshape(m, outF).Sum(0);
            return bias is null ? new[] { gx, gw } : new[] { gx, gw, gb };
        });
    }
}
