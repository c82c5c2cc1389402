using HieraRS.Tensors;

namespace HieraRS.NN;

public sealed class Conv2d : Module
{
    public readonly int InChannels, OutChannels, Groups;
    public readonly (int H, int W) KernelSize, Stride, Padding, Dilation;
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation), groups, bias) { }

    public Conv2d(int inChannels, int outChannels, (int H, int W) kernelSize, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, int groups = 1, bool bias = true)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: channels {inChannels} -> {outChannels} not divisible by groups {groups}");
        (InChannels, OutChannels, Groups, KernelSize, Stride, Padding, Dilation) = (inChannels, outChannels, groups, kernelSize, stride, padding, dilation);
        Weight = RegisterParameter("weight", Tensor.Empty(outChannels, inChannels / groups, kernelSize.H, kernelSize.W));
        Bias = bias ? RegisterParameter("bias", Tensor.Empty(outChannels)) : null;
        Init.DefaultLayer(Weight, Bias);
    }

    public override Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, Stride, Padding, Dilation, Groups);

    /// <summary>
    /// This convolution, then <paramref name="norm"/> (if any) and a ReLU (if <paramref name="relu"/>). In an
    /// inference scope with gradients off they run as one <see cref="FrozenConv2d"/>: the batch norm's
    /// running statistics folded into the weights and bias (as torch.nn.utils.fuse_conv_bn_eval), kept until the scope ends.
    /// </summary>
    public Tensor Forward(Tensor x, BatchNorm2d? norm, bool relu)
    {
        if (InInference && !GradMode.Enabled && norm is not { Training: true })
        {
            if (frozen is null || frozenNorm != norm) (frozen, frozenNorm) = (Fold(norm), norm);
            return frozen.Forward(x, relu);
        }
        var y = Forward(x);
        if (norm is not null) y = norm.Forward(y);
        return relu ? y.Relu() : y;
    }

    FrozenConv2d? frozen;
    BatchNorm2d? frozenNorm;

    protected override void DropInferenceState() => (frozen, frozenNorm) = (null, null);

    /// <summary>W' = W s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps), per output channel.</summary>
    FrozenConv2d Fold(BatchNorm2d? norm)
    {
        float[]? bias = Bias?.Contiguous().ToArray();
        if (norm is null) return new FrozenConv2d(Weight, bias, Stride, Padding, Dilation, Groups);
        if (norm.RunningMean is null || norm.RunningVar is null) throw new InvalidOperationException("batch norm without running statistics cannot be folded");
        var (mean, var) = (norm.RunningMean.Contiguous().ToArray(), norm.RunningVar.Contiguous().ToArray());
        float[]? gamma = norm.Weight?.Contiguous().ToArray(), beta = norm.Bias?.Contiguous().ToArray();
        var w = Weight.Contiguous().ToArray();
        int per = w.Length / OutChannels;
        var folded = new float[OutChannels];
        for (int o = 0; o < OutChannels; o++)
        {
            float scale = (gamma?[o] ?? 1f) / MathF.Sqrt(var[o] + norm.Eps);
            for (int i = o * per; i < (o + 1) * per; i++) w[i] *= scale;
            folded[o] = ((bias?[o] ?? 0f) - mean[o]) * scale + (beta?[o] ?? 0f);
        }
        return new FrozenConv2d(Tensor.Wrap(w, Weight.Shape.ToArray()), folded, Stride, Padding, Dilation, Groups);
    }
}

public sealed class Linear : Module
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Linear(int inFeatures, int outFeatures, bool bias = true)
    {
        Weight = RegisterParameter("weight", Tensor.Empty(outFeatures, inFeatures));
        Bias = bias ? RegisterParameter("bias", Tensor.Empty(outFeatures)) : null;
        Init.DefaultLayer(Weight, Bias);
    }

    public override Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);
}

/// <summary>BatchNorm over [N, C, ...]; momentum null means a cumulative moving average, as PyTorch.</summary>
public sealed class BatchNorm2d : Module
{
    public readonly float Eps;
    public readonly float? Momentum;
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    public Tensor? NumBatchesTracked { get; }
    /// <summary>Synchronised batch norm: sums values over the data-parallel processes, so training statistics are the global batch's (null: this process's batch).</summary>
    public Action<Span<double>>? SumOverProcesses { get; set; }

    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float? momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
    {
        (Eps, Momentum) = (eps, momentum);
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(numFeatures));
            Bias = RegisterParameter("bias", Tensor.Zeros(numFeatures));
        }
        if (trackRunningStats)
        {
            RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(numFeatures));
            RunningVar = RegisterBuffer("running_var", Tensor.Ones(numFeatures));
            NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros(), DType.I64);
        }
    }

    public override Tensor Forward(Tensor x)
    {
        bool useBatch = Training || RunningMean is null;
        float momentum = Momentum ?? 0f;
        if (Training && NumBatchesTracked is not null)
        {
            NumBatchesTracked.Span[0] += 1;
            if (Momentum is null) momentum = 1f / NumBatchesTracked.Span[0];
        }
        return F.BatchNorm(x, RunningMean, RunningVar, Weight, Bias, useBatch, momentum, Eps, SumOverProcesses);
    }
}

public sealed class GroupNorm : Module
{
    public readonly int NumGroups;
    public readonly float Eps;
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public GroupNorm(int numGroups, int numChannels, float eps = 1e-5f, bool affine = true)
    {
        if (numChannels % numGroups != 0) throw new ArgumentException($"GroupNorm: {numChannels} channels not divisible by {numGroups} groups");
        (NumGroups, Eps) = (numGroups, eps);
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(numChannels));
            Bias = RegisterParameter("bias", Tensor.Zeros(numChannels));
        }
    }

    public override Tensor Forward(Tensor x) => F.GroupNorm(x, NumGroups, Weight, Bias, Eps);
}

/// <summary>LayerNorm over the last dim, or over channels of [N, C, H, W] when channelsFirst.</summary>
public sealed class LayerNorm : Module
{
    public readonly float Eps;
    public readonly bool ChannelsFirst;
    public Tensor Weight { get; }
    public Tensor Bias { get; }

    public LayerNorm(int normalizedShape, float eps = 1e-5f, bool channelsFirst = false)
    {
        (Eps, ChannelsFirst) = (eps, channelsFirst);
        Weight = RegisterParameter("weight", Tensor.Ones(normalizedShape));
        Bias = RegisterParameter("bias", Tensor.Zeros(normalizedShape));
    }

    public override Tensor Forward(Tensor x) => F.LayerNorm(x, Weight, Bias, Eps, ChannelsFirst ? 1 : -1);
}

public sealed class ReLU : Module { public override Tensor Forward(Tensor x) => x.Relu(); }
public sealed class GELU : Module { public override Tensor Forward(Tensor x) => x.Gelu(); }
public sealed class Sigmoid : Module { public override Tensor Forward(Tensor x) => x.Sigmoid(); }
public sealed class Tanh : Module { public override Tensor Forward(Tensor x) => x.Tanh(); }
public sealed class Identity : Module { public override Tensor Forward(Tensor x) => x; }

public sealed class Dropout(float p = 0.5f) : Module
{
    public readonly float P = p;
    public override Tensor Forward(Tensor x) => F.Dropout(x, P, Training);
}

/// <summary>Channel dropout (nn.Dropout2d), as MMSegmentation's decode heads apply before the classifier.</summary>
public sealed class Dropout2d(float p = 0.5f) : Module
{
    public readonly float P = p;
    public override Tensor Forward(Tensor x) => F.Dropout2d(x, P, Training);
}

/// <summary>Stochastic depth per sample (timm's DropPath).</summary>
public sealed class DropPath(float p = 0f) : Module
{
    public readonly float P = p;
    public override Tensor Forward(Tensor x) => F.DropPath(x, P, Training);
}

public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, kernelSize, stride, padding, dilation, ceilMode);
}

public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, kernelSize, stride, padding, ceilMode, countIncludePad);
}

public sealed class AdaptiveAvgPool2d(int outH, int outW) : Module
{
    public readonly int OutH = outH, OutW = outW;
    public override Tensor Forward(Tensor x) => F.AdaptiveAvgPool2d(x, OutH, OutW);
}

/// <summary>Children named "0", "1", ... applied in order.</summary>
public class Sequential : Module
{
    readonly List<Module> layers = new();

    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Append(m);
    }

    public Sequential Append(Module m)
    {
        Register(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m);
        layers.Add(m);
        return this;
    }

    public int Count => layers.Count;
    public Module this[int i] => layers[i];

    public override Tensor Forward(Tensor x)
    {
        foreach (var m in layers) x = m.Forward(x);
        return x;
    }
}

/// <summary>Children named "0", "1", ... without a forward of their own.</summary>
public sealed class ModuleList : Module, IEnumerable<Module>
{
    readonly List<Module> items = new();

    public ModuleList(IEnumerable<Module>? modules = null)
    {
        if (modules is not null) foreach (var m in modules) Add(m);
    }

    public void Add(Module m)
    {
        Register(items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m);
        items.Add(m);
    }

    public int Count => items.Count;
    public Module this[int i] => items[i];
    public IEnumerator<Module> GetEnumerator() => items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
