using HieraRS.Tensors;

namespace HieraRS.NN;

/// <summary>Weight initialisers with PyTorch's fan conventions (in-place, no autograd).</summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) for a [out, in, *kernel] weight.</summary>
    public static (int FanIn, int FanOut) Fans(Tensor w)
    {
        if (w.Rank < 2) throw new ArgumentException("fan needs a weight of at least 2 dims");
        int receptive = w.Numel / (w.Size(0) * w.Size(1));
        return (w.Size(1) * receptive, w.Size(0) * receptive);
    }

    [ThreadStatic] static int skipDepth;

    /// <summary>
    /// Within the returned scope the random initialisers leave tensors as they are and draw no numbers: for
    /// a model built only to take a strict load of every weight (a checkpoint), where drawing them cost
    /// a third of the load (`hierars export` of the demo checkpoint: 0.95-1.09 s, against 1.30-1.48 s drawing).
    /// </summary>
    public static IDisposable Skipped() { skipDepth++; return new SkipScope(); }

    sealed class SkipScope : IDisposable
    {
        bool done;
        public void Dispose() { if (!done) { done = true; skipDepth--; } }
    }

    static void Fill(Tensor t, Func<Generator, float> sample, Generator? gen)
    {
        if (skipDepth > 0) return;
        gen ??= Generator.Default;
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = sample(gen);
    }

    public static void Uniform(Tensor t, float low, float high, Generator? gen = null) =>
        Fill(t, g => (float)(low + (high - low) * g.NextDouble()), gen);

    public static void Normal(Tensor t, float mean = 0, float std = 1, Generator? gen = null) =>
        Fill(t, g => (float)(mean + std * g.NextNormal()), gen);

    public static void Constant(Tensor t, float value) => t.Span.Fill(value);

    /// <summary>xavier_uniform_: bound = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    public static void XavierUniform(Tensor w, float gain = 1f, Generator? gen = null)
    {
        var (fanIn, fanOut) = Fans(w);
        float bound = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        Uniform(w, -bound, bound, gen);
    }

    static float Gain(string nonlinearity, float a) => nonlinearity switch
    {
        "relu" => MathF.Sqrt(2f),
        "leaky_relu" => MathF.Sqrt(2f / (1 + a * a)),
        "linear" or "sigmoid" => 1f,
        "tanh" => 5f / 3f,
        _ => throw new ArgumentException($"unknown nonlinearity '{nonlinearity}'"),
    };

    /// <summary>kaiming_uniform_: bound = gain * sqrt(3 / fan).</summary>
    public static void KaimingUniform(Tensor w, float a = 0, bool fanIn = true, string nonlinearity = "leaky_relu", Generator? gen = null)
    {
        var (fi, fo) = Fans(w);
        float bound = Gain(nonlinearity, a) * MathF.Sqrt(3f / (fanIn ? fi : fo));
        Uniform(w, -bound, bound, gen);
    }

    /// <summary>kaiming_normal_: std = gain / sqrt(fan) (torchvision ResNet: fan_out, relu).</summary>
    public static void KaimingNormal(Tensor w, float a = 0, bool fanIn = true, string nonlinearity = "leaky_relu", Generator? gen = null)
    {
        var (fi, fo) = Fans(w);
        Normal(w, 0, Gain(nonlinearity, a) / MathF.Sqrt(fanIn ? fi : fo), gen);
    }

    /// <summary>trunc_normal_: normal(mean, std) resampled until inside [a, b].</summary>
    public static void TruncNormal(Tensor t, float mean = 0, float std = 1, float a = -2, float b = 2, Generator? gen = null) =>
        Fill(t, g =>
        {
            while (true)
            {
                float v = (float)(mean + std * g.NextNormal());
                if (v >= a && v <= b) return v;
            }
        }, gen);

    /// <summary>PyTorch's default for Conv/Linear: kaiming_uniform(a = sqrt 5) weight, bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).</summary>
    public static void DefaultLayer(Tensor weight, Tensor? bias, Generator? gen = null)
    {
        KaimingUniform(weight, MathF.Sqrt(5f), gen: gen);
        if (bias is null) return;
        var (fi, _) = Fans(weight);
        float bound = fi > 0 ? 1f / MathF.Sqrt(fi) : 0f;
        Uniform(bias, -bound, bound, gen);
    }
}
