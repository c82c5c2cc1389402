using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using HieraRS.Tensors;

namespace HieraRS.NN;

/// <summary>Parameters sharing a learning rate and weight decay (multipliers scale the optimizer's base values).</summary>
public sealed class ParamGroup(IEnumerable<Tensor> parameters, double lrMult = 1.0, double decayMult = 1.0, string name = "")
{
    public List<Tensor> Params { get; } = parameters.ToList();
    public double LrMult { get; } = lrMult;
    public double DecayMult { get; } = decayMult;
    public string Name { get; } = name;
    /// <summary>Current learning rate; schedules write base lr times <see cref="LrMult"/>.</summary>
    public double Lr { get; set; }
    public double WeightDecay { get; set; }
}

/// <summary>Base optimizer: parameter groups, per-parameter state tensors, zero_grad.</summary>
public abstract class Optimizer
{
    public IReadOnlyList<ParamGroup> Groups { get; }
    public double BaseLr { get; }
    public double BaseWeightDecay { get; }
    protected readonly Dictionary<Tensor, Dictionary<string, Tensor>> State = new(ReferenceEqualityComparer.Instance);
    protected readonly Dictionary<Tensor, long> Steps = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup> groups, double lr, double weightDecay)
    {
        Groups = groups.ToList();
        if (Groups.Count == 0 || Groups.All(g => g.Params.Count == 0)) throw new ArgumentException("optimizer got no parameters");
        (BaseLr, BaseWeightDecay) = (lr, weightDecay);
        SetLr(lr);
        foreach (var g in Groups) g.WeightDecay = weightDecay * g.DecayMult;
    }

    /// <summary>Sets every group's lr to lr times its multiplier.</summary>
    public void SetLr(double lr)
    {
        foreach (var g in Groups) g.Lr = lr * g.LrMult;
    }

    public void ZeroGrad()
    {
        foreach (var g in Groups) foreach (var p in g.Params) p.Grad = null;
    }

    public void Step()
    {
        using var _ = GradMode.NoGrad();
        foreach (var g in Groups)
            foreach (var p in g.Params)
            {
                if (p.Grad is null) continue;
                Steps[p] = Steps.GetValueOrDefault(p) + 1;
                if (!State.TryGetValue(p, out var st)) State[p] = st = new Dictionary<string, Tensor>();
                Update(p.Span, p.Grad.Contiguous().Span, st, p.Shape.ToArray(), Steps[p], g);
            }
    }

    protected abstract void Update(Span<float> p, ReadOnlySpan<float> grad, Dictionary<string, Tensor> state, int[] shape, long step, ParamGroup group);

    /// <summary>
    /// State tensors by "state.{index}.{name}" (index: parameter order over the groups) and step
    /// counts by "step.{index}", for exact resume.
    /// </summary>
    public StateDict StateDict()
    {
        var sd = new StateDict();
        int i = 0;
        foreach (var g in Groups)
            foreach (var p in g.Params)
            {
                if (State.TryGetValue(p, out var st))
                    foreach (var (k, v) in st.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sd.Add($"state.{i}.{k}", v);
                if (Steps.TryGetValue(p, out var s)) sd.Add($"step.{i}", Tensor.Scalar(s), DType.I64);
                i++;
            }
        return sd;
    }

    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> sd)
    {
        var ps = Groups.SelectMany(g => g.Params).ToList();
        State.Clear(); Steps.Clear();
        foreach (var (key, v) in sd)
        {
            var parts = key.Split('.', 3);
            if (parts.Length < 2 || !int.TryParse(parts[1], out int i) || i < 0 || i >= ps.Count)
                throw new InvalidDataException($"optimizer state key '{key}' does not name one of the {ps.Count} parameters");
            var p = ps[i];
            if (parts[0] == "step") { Steps[p] = (long)v.Item(); continue; }
            if (parts[0] != "state" || parts.Length != 3) throw new InvalidDataException($"unknown optimizer state key '{key}'");
            if (!State.TryGetValue(p, out var st)) State[p] = st = new Dictionary<string, Tensor>();
            st[parts[2]] = v.CloneData();
        }
    }

    protected static Tensor StateTensor(Dictionary<string, Tensor> st, string name, int[] shape) =>
        st.TryGetValue(name, out var t) ? t : st[name] = Tensor.Zeros(shape);
}

/// <summary>torch.optim.SGD: weight decay added to the gradient, momentum with dampening, Nesterov.</summary>
public sealed class SGD : Optimizer
{
    public double Momentum { get; }
    public double Dampening { get; }
    public bool Nesterov { get; }

    public SGD(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double weightDecay = 0, double dampening = 0, bool nesterov = false)
        : base(groups, lr, weightDecay)
    {
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening");
        (Momentum, Dampening, Nesterov) = (momentum, dampening, nesterov);
    }

    public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double weightDecay = 0, double dampening = 0, bool nesterov = false)
        : this(new[] { new ParamGroup(parameters) }, lr, momentum, weightDecay, dampening, nesterov) { }

    protected override void Update(Span<float> p, ReadOnlySpan<float> grad, Dictionary<string, Tensor> st, int[] shape, long step, ParamGroup g)
    {
        // torch 1.13 per element: d = g + wd*p; buf = d (first step) or m*buf + (1-dampening)*d;
        // update = nesterov ? d + m*buf : buf (d without momentum); p -= lr*update
        float wd = (float)g.WeightDecay, lr = (float)g.Lr, m = (float)Momentum, damp = (float)(1 - Dampening);
        bool fresh = Momentum != 0 && !st.ContainsKey("momentum_buffer");
        var buf = Momentum != 0 ? StateTensor(st, "momentum_buffer", shape).Span : Span<float>.Empty;
        for (int i = 0; i < p.Length; i++)
        {
            float d = grad[i] + wd * p[i];
            if (Momentum != 0)
            {
                buf[i] = fresh ? d : m * buf[i] + damp * d;
                d = Nesterov ? d + m * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
    }
}

/// <summary>torch.optim.AdamW: decoupled weight decay, bias-corrected moments.</summary>
public sealed class AdamW : Optimizer
{
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }

    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : base(groups, lr, weightDecay) => (Beta1, Beta2, Eps) = (beta1, beta2, eps);

    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : this(new[] { new ParamGroup(parameters) }, lr, beta1, beta2, eps, weightDecay) { }

    protected override void Update(Span<float> p, ReadOnlySpan<float> grad, Dictionary<string, Tensor> st, int[] shape, long step, ParamGroup g)
    {
        if (g.WeightDecay != 0) TensorPrimitives.Multiply(p, (float)(1 - g.Lr * g.WeightDecay), p);
        var m = StateTensor(st, "exp_avg", shape).Span;
        var v = StateTensor(st, "exp_avg_sq", shape).Span;
        float b1 = (float)Beta1, b2 = (float)Beta2;
        // torch 1.13: m = m*b1 + (1-b1)*g; v = v*b2 + (1-b2)*g*g; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        double bc1 = 1 - Math.Pow(Beta1, step), bc2Sqrt = Math.Sqrt(1 - Math.Pow(Beta2, step));
        AdamKernel.Update(p, grad, m, v, b1, b2, (float)(g.Lr / bc1), (float)bc2Sqrt, (float)Eps);
    }
}

/// <summary>The vectorised, parallel inner loop of Adam / AdamW.</summary>
internal static class AdamKernel
{
    public static unsafe void Update(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float b1, float b2, float stepSize, float bc2, float eps)
    {
        fixed (float* pp = p, pg = g, pm = m, pv = v)
        {
            float* P = pp, G = pg, M = pm, V = pv;
            Engine.For(p.Length, 16, (s, e) =>
            {
                int i = s;
                if (Vector256.IsHardwareAccelerated)
                {
                    var vb1 = Vector256.Create(b1); var vb2 = Vector256.Create(b2);
                    var va1 = Vector256.Create(1 - b1); var va2 = Vector256.Create(1 - b2);
                    var vstep = Vector256.Create(stepSize); var vbc2 = Vector256.Create(bc2); var veps = Vector256.Create(eps);
                    for (; i <= e - 8; i += 8)
                    {
                        var gi = Vector256.Load(G + i);
                        var mi = Vector256.Load(M + i) * vb1 + gi * va1;
                        var vi = Vector256.Load(V + i) * vb2 + gi * gi * va2;
                        mi.Store(M + i); vi.Store(V + i);
                        (Vector256.Load(P + i) - vstep * (mi / (Vector256.Sqrt(vi) / vbc2 + veps))).Store(P + i);
                    }
                }
                for (; i < e; i++)
                {
                    float gi = G[i];
                    M[i] = M[i] * b1 + (1 - b1) * gi;
                    V[i] = V[i] * b2 + (1 - b2) * gi * gi;
                    P[i] -= stepSize * (M[i] / (MathF.Sqrt(V[i]) / bc2 + eps));
                }
            });
        }
    }
}

public static class GradClip
{
    /// <summary>Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToList();
        double total = Math.Sqrt(grads.Sum(g => { var s = g.Contiguous().Span; return (double)TensorPrimitives.Dot(s, s); }));
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1)
            foreach (var g in grads) TensorPrimitives.Multiply(g.Span, (float)coef, g.Span);
        return total;
    }
}
