using System.Numerics.Tensors;

namespace HieraRS.Tensors;

internal enum BinaryOp { Add, Sub, Mul, Div, Max, Min }

public sealed partial class Tensor
{
    // ---- broadcasting binary ops ----

    public Tensor Add(Tensor other)
    {
        var (sa, sb, ra, rb) = (shape, other.shape, requiresGrad, other.requiresGrad);
        return Record(Binary(this, other, BinaryOp.Add), "add", new[] { this, other },
            g => new[] { ra ? g.SumTo(sa) : null, rb ? g.SumTo(sb) : null });
    }

    public Tensor Sub(Tensor other)
    {
        var (sa, sb, ra, rb) = (shape, other.shape, requiresGrad, other.requiresGrad);
        return Record(Binary(this, other, BinaryOp.Sub), "sub", new[] { this, other },
            g => new[] { ra ? g.SumTo(sa) : null, rb ? g.Neg().SumTo(sb) : null });
    }

    public Tensor Mul(Tensor other)
    {
        Tensor a = this, b = other;
        return Record(Binary(a, b, BinaryOp.Mul), "mul", new[] { a, b },
            g => new[] { a.requiresGrad ? g.Mul(b).SumTo(a.shape) : null, b.requiresGrad ? g.Mul(a).SumTo(b.shape) : null });
    }

    public Tensor Div(Tensor other)
    {
        Tensor a = this, b = other;
        return Record(Binary(a, b, BinaryOp.Div), "div", new[] { a, b }, g => new[]
        {
            a.requiresGrad ? g.Div(b).SumTo(a.shape) : null,
            b.requiresGrad ? g.Mul(a).Div(b.Mul(b)).Neg().SumTo(b.shape) : null,
        });
    }

    /// <summary>Elementwise maximum; the gradient goes to the larger input (to a on ties).</summary>
    public Tensor Maximum(Tensor other) => MinMax(other, BinaryOp.Max);

    /// <summary>Elementwise minimum; the gradient goes to the smaller input (to a on ties).</summary>
    public Tensor Minimum(Tensor other) => MinMax(other, BinaryOp.Min);

    Tensor MinMax(Tensor other, BinaryOp op)
    {
        Tensor a = this, b = other;
        var result = Binary(a, b, op);
        return Record(result, op == BinaryOp.Max ? "maximum" : "minimum", new[] { a, b }, g =>
        {
            var pickA = Binary(a.Detach(), result.Detach(), BinaryOp.Sub).MapUnary(v => v == 0 ? 1f : 0f);
            return new[]
            {
                a.requiresGrad ? g.Mul(pickA).SumTo(a.shape) : null,
                b.requiresGrad ? g.Mul(pickA.MapUnary(v => 1 - v)).SumTo(b.shape) : null,
            };
        });
    }

    public Tensor Add(float s) => Record(ScalarOp(this, s, BinaryOp.Add), "add_scalar", this, g => g);
    public Tensor Sub(float s) => Add(-s);
    public Tensor Mul(float s) => Record(ScalarOp(this, s, BinaryOp.Mul), "mul_scalar", this, g => g.Mul(s));
    public Tensor Div(float s) => Mul(1f / s);

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator +(Tensor a, float s) => a.Add(s);
    public static Tensor operator -(Tensor a, float s) => a.Add(-s);
    public static Tensor operator *(Tensor a, float s) => a.Mul(s);
    public static Tensor operator *(float s, Tensor a) => a.Mul(s);
    public static Tensor operator /(Tensor a, float s) => a.Mul(1f / s);
    public static Tensor operator -(float s, Tensor a) => a.Neg().Add(s);
    public static Tensor operator -(Tensor a) => a.Neg();

    /// <summary>In-place this += other (broadcast into this shape); no autograd, for gradient buffers and optimizers.</summary>
    public void AddInPlace(Tensor other, float alpha = 1f)
    {
        if (!IsContiguous) throw new InvalidOperationException("AddInPlace needs a contiguous tensor");
        if (ShapeUtil.SameShape(shape, other.shape) && other.IsContiguous)
        {
            if (alpha == 1f) TensorPrimitives.Add(Span, other.Span, Span);
            else TensorPrimitives.MultiplyAdd(other.Span, alpha, Span, Span);
            return;
        }
        var src = other.Expand(shape).Contiguous();
        if (alpha != 1f) src = ScalarOp(src, alpha, BinaryOp.Mul);
        TensorPrimitives.Add(Span, src.Span, Span);
    }

    // ---- unary ops ----

    public Tensor Neg() => Record(Unary(this, (x, d) => TensorPrimitives.Negate(x, d)), "neg", this, g => g.Neg());

    public Tensor Exp()
    {
        var y = Unary(this, (x, d) => TensorPrimitives.Exp(x, d));
        return Record(y, "exp", this, g => g.Mul(y.Detach()));
    }

    public Tensor Log()
    {
        var x0 = this;
        return Record(Unary(this, (x, d) => TensorPrimitives.Log(x, d)), "log", this, g => g.Div(x0.Detach()));
    }

    public Tensor Sqrt()
    {
        var y = Unary(this, (x, d) => TensorPrimitives.Sqrt(x, d));
        return Record(y, "sqrt", this, g => g.Div(y.Detach().Mul(2f)));
    }

    public Tensor Abs()
    {
        var x0 = this;
        return Record(Unary(this, (x, d) => TensorPrimitives.Abs(x, d)), "abs", this,
            g => g.Mul(x0.Detach().MapUnary(v => MathF.Sign(v))));
    }

    /// <summary>x ** p for a scalar exponent.</summary>
    public Tensor Pow(float p)
    {
        var x0 = this;
        var y = p == 2f ? Unary(this, (x, d) => TensorPrimitives.Multiply(x, x, d)) : Unary(this, (x, d) => TensorPrimitives.Pow(x, p, d));
        return Record(y, "pow", this, g => g.Mul(x0.Detach().Pow(p - 1).Mul(p)));
    }

    public Tensor Relu()
    {
        var y = Unary(this, (x, d) => TensorPrimitives.Max(x, 0f, d));
        return Record(y, "relu", this, g => ReluBackward(g, y.Detach()));
    }

    /// <summary>
    /// max(this + other, 0), a residual unit's end: without gradients and for tensors of one shape, in one
    /// pass and one allocation instead of two of each.
    /// </summary>
    public Tensor AddRelu(Tensor other)
    {
        if (GradMode.Enabled && (requiresGrad || other.requiresGrad) || !ShapeUtil.SameShape(shape, other.shape))
            return (this + other).Relu();
        var (a, b) = (Contiguous(), other.Contiguous());
        var y = Empty(shape);
        float[] xs = a.Storage, os = b.Storage, ys = y.Storage;
        int xo = a.Offset, oo = b.Offset;
        Engine.For(ys.Length, 2, (s0, e) =>
        {
            for (int c = s0; c < e; c += 4096) // a chunk at a time, so the second pass reads from cache
            {
                int n = Math.Min(4096, e - c);
                var d = ys.AsSpan(c, n);
                TensorPrimitives.Add(xs.AsSpan(xo + c, n), os.AsSpan(oo + c, n), d);
                TensorPrimitives.Max(d, 0f, d);
            }
        });
        if (Profiler.Enabled) Profiler.Forward("add_relu");
        return y;
    }

    static Tensor ReluBackward(Tensor g, Tensor y)
    {
        var gc = g.Contiguous();
        var r = Empty(g.shape);
        float[] gs = gc.Storage, ys = y.Storage, rs = r.Storage;
        int go = gc.Offset, yo = y.Offset;
        Engine.For(rs.Length, 1, (s, e) => SpanMath.PassWherePositive(gs.AsSpan(go + s, e - s), ys.AsSpan(yo + s, e - s), rs.AsSpan(s, e - s)));
        return r;
    }

    public Tensor Sigmoid()
    {
        var y = Unary(this, (x, d) => TensorPrimitives.Sigmoid(x, d));
        return Record(y, "sigmoid", this, g =>
        {
            var yd = y.Detach();
            return g.Mul(yd.Mul(yd.Neg().Add(1f)));
        });
    }

    public Tensor Tanh()
    {
        var y = Unary(this, (x, d) => TensorPrimitives.Tanh(x, d));
        return Record(y, "tanh", this, g =>
        {
            var yd = y.Detach();
            return g.Mul(yd.Mul(yd).Neg().Add(1f));
        });
    }

    /// <summary>GELU, exact erf form: x * Phi(x).</summary>
    public Tensor Gelu()
    {
        var x0 = this;
        var y = MapUnary(v => (float)(0.5 * v * (1.0 + SpecialFunctions.Erf(v * 0.7071067811865476))));
        return Record(y, "gelu", this, g => g.Mul(x0.Detach().MapUnary(v =>
        {
            double cdf = 0.5 * (1.0 + SpecialFunctions.Erf(v * 0.7071067811865476));
            double pdf = Math.Exp(-0.5 * v * v) * 0.3989422804014327;
            return (float)(cdf + v * pdf);
        })));
    }

    public Tensor Clamp(float min = float.NegativeInfinity, float max = float.PositiveInfinity)
    {
        var x0 = this;
        var y = Unary(this, (x, d) => { TensorPrimitives.Max(x, min, d); TensorPrimitives.Min(d, max, d); });
        return Record(y, "clamp", this, g => g.Mul(x0.Detach().MapUnary(v => v >= min && v <= max ? 1f : 0f)));
    }

    // ---- kernels ----

    /// <summary>Applies f elementwise (no autograd): for masks and derivative tables.</summary>
    internal Tensor MapUnary(Func<float, float> f)
    {
        var src = Contiguous();
        var r = Empty(shape);
        var s = src.Storage; int off = src.Offset; var d = r.Storage;
        Engine.For(d.Length, 8, (a, b) => { for (int i = a; i < b; i++) d[i] = f(s[off + i]); });
        return r;
    }

    delegate void SpanOp(ReadOnlySpan<float> x, Span<float> dst);

    static Tensor Unary(Tensor t, SpanOp op)
    {
        var src = t.Contiguous();
        var r = Empty(t.shape);
        var s = src.Storage; int off = src.Offset; var d = r.Storage;
        Engine.For(d.Length, 4, (a, b) => op(s.AsSpan(off + a, b - a), d.AsSpan(a, b - a)));
        return r;
    }

    static Tensor ScalarOp(Tensor t, float v, BinaryOp op)
    {
        var src = t.Contiguous();
        var r = Empty(t.shape);
        var s = src.Storage; int off = src.Offset; var d = r.Storage;
        Engine.For(d.Length, 2, (a, b) => SpanScalar(op, s.AsSpan(off + a, b - a), v, d.AsSpan(a, b - a)));
        return r;
    }

    internal static Tensor Binary(Tensor a, Tensor b, BinaryOp op)
    {
        var outShape = ShapeUtil.Broadcast(a.shape, b.shape);
        var r = Empty(outShape);
        if (r.Numel == 0) return r;
        if (a.IsContiguous && b.IsContiguous && ShapeUtil.SameShape(a.shape, b.shape))
        {
            var (sa, oa, sb, ob, d) = (a.Storage, a.Offset, b.Storage, b.Offset, r.Storage);
            Engine.For(d.Length, 2, (s, e) => SpanSpan(op, sa.AsSpan(oa + s, e - s), sb.AsSpan(ob + s, e - s), d.AsSpan(s, e - s)));
            return r;
        }
        var ea = a.Expand(outShape); var eb = b.Expand(outShape);
        var (cs, st) = Strided.Coalesce(outShape, ea.strides, eb.strides, ContiguousStrides(outShape));
        int inner = cs[^1], rows = r.Numel / inner;
        int[] stA = st[0], stB = st[1], stO = st[2];
        int ia = stA[^1], ib = stB[^1];
        float[] pa = a.Storage, pb = b.Storage, po = r.Storage;
        int offA = a.Offset, offB = b.Offset;
        Engine.For(rows, inner, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
            {
                int xa = offA + Strided.RowOffset(row, cs, stA), xb = offB + Strided.RowOffset(row, cs, stB);
                var dst = po.AsSpan(Strided.RowOffset(row, cs, stO), inner);
                if (ia == 1 && ib == 1) SpanSpan(op, pa.AsSpan(xa, inner), pb.AsSpan(xb, inner), dst);
                else if (ia == 1 && ib == 0) SpanScalar(op, pa.AsSpan(xa, inner), pb[xb], dst);
                else if (ia == 0 && ib == 1) ScalarSpan(op, pa[xa], pb.AsSpan(xb, inner), dst);
                else for (int i = 0; i < inner; i++) dst[i] = Apply(op, pa[xa + i * ia], pb[xb + i * ib]);
            }
        });
        return r;
    }

    static float Apply(BinaryOp op, float x, float y) => op switch
    {
        BinaryOp.Add => x + y, BinaryOp.Sub => x - y, BinaryOp.Mul => x * y, BinaryOp.Div => x / y,
        BinaryOp.Max => MathF.Max(x, y), _ => MathF.Min(x, y),
    };

    static void SpanSpan(BinaryOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(x, y, d); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(x, y, d); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(x, y, d); break;
            case BinaryOp.Div: TensorPrimitives.Divide(x, y, d); break;
            case BinaryOp.Max: TensorPrimitives.Max(x, y, d); break;
            default: TensorPrimitives.Min(x, y, d); break;
        }
    }

    static void SpanScalar(BinaryOp op, ReadOnlySpan<float> x, float y, Span<float> d)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(x, y, d); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(x, y, d); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(x, y, d); break;
            case BinaryOp.Div: TensorPrimitives.Divide(x, y, d); break;
            case BinaryOp.Max: TensorPrimitives.Max(x, y, d); break;
            default: TensorPrimitives.Min(x, y, d); break;
        }
    }

    static void ScalarSpan(BinaryOp op, float x, ReadOnlySpan<float> y, Span<float> d)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(y, x, d); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(x, y, d); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(y, x, d); break;
            case BinaryOp.Div: TensorPrimitives.Divide(x, y, d); break;
            case BinaryOp.Max: TensorPrimitives.Max(y, x, d); break;
            default: TensorPrimitives.Min(y, x, d); break;
        }
    }
}
