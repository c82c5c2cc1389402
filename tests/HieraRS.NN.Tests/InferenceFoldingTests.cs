using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.NN.Tests;

/// <summary>
/// Conv -> batch norm -> ReLU folded into one convolution for inference (<see cref="Module.Inference"/>)
/// against the three layers run one after the other (eval mode, gradients off).
/// </summary>
[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again with 256-bit vectors only
public class InferenceFoldingTests
{
    sealed class Unit : Module
    {
        public readonly Conv2d Conv;
        public readonly BatchNorm2d? Bn;
        readonly bool relu;
        public Unit(Conv2d conv, bool norm, bool relu)
        {
            Conv = Register("conv", conv);
            if (norm) Bn = Register("bn", new BatchNorm2d(conv.OutChannels));
            this.relu = relu;
        }
        public override Tensor Forward(Tensor x) => Conv.Forward(x, Bn, relu);
    }

    static Unit Make(Conv2d conv, bool norm, bool relu, ulong seed)
    {
        var g = new Generator(seed);
        var u = new Unit(conv, norm, relu);
        foreach (var (name, t) in u.StateDict())
        {
            if (name.EndsWith("num_batches_tracked")) continue;
            var v = name.EndsWith("running_var") ? Tensor.Rand(t.Shape.ToArray(), 0.2f, 2f, g)
                : name.EndsWith("weight") && name.StartsWith("bn") ? Tensor.Rand(t.Shape.ToArray(), 0.5f, 1.5f, g)
                : Tensor.Randn(t.Shape.ToArray(), g) * (name.StartsWith("conv.weight") ? 0.1f : 0.5f);
            t.CopyFrom(v);
        }
        return u;
    }

    static float MaxAbs(Tensor a) => a.Contiguous().ToArray().Max(MathF.Abs);

    public static TheoryData<string> Cases => new() { "3x3 winograd", "3x3 winograd 64 channels", "3x3 stride 2", "7x7 stem", "1x1 with bias", "depthwise 3x3", "dilated 3x3 no norm", "1x1 stride 2", "3x3 18 channels small map" };

    static (Conv2d Conv, bool Norm, bool Relu, int[] Input) Case(string name) => name switch
    {
        "3x3 winograd" => (new Conv2d(16, 24, 3, padding: 1, bias: false), true, true, [2, 16, 40, 36]),
        "3x3 winograd 64 channels" => (new Conv2d(64, 64, 3, padding: 1, bias: false), true, true, [1, 64, 97, 130]),
        "3x3 stride 2" => (new Conv2d(16, 32, 3, stride: 2, padding: 1, bias: false), true, false, [1, 16, 33, 30]),
        "7x7 stem" => (new Conv2d(4, 16, 7, stride: 2, padding: 3, bias: false), true, true, [1, 4, 64, 64]),
        "1x1 with bias" => (new Conv2d(24, 8, 1), true, true, [2, 24, 20, 20]),
        "depthwise 3x3" => (new Conv2d(16, 16, 3, padding: 1, groups: 16), true, false, [1, 16, 24, 24]),
        "dilated 3x3 no norm" => (new Conv2d(8, 12, 3, padding: 2, dilation: 2), false, true, [1, 8, 40, 40]),
        "1x1 stride 2" => (new Conv2d(16, 24, 1, stride: 2, bias: false), true, false, [2, 16, 31, 29]),
        "3x3 18 channels small map" => (new Conv2d(16, 18, 3, padding: 1), false, false, [1, 16, 20, 23]),
        _ => throw new ArgumentException(name),
    };

    [Theory, MemberData(nameof(Cases))]
    public void AFoldedConvolutionMatchesConvNormRelu(string name)
    {
        var (conv, norm, relu, input) = Case(name);
        var unit = Make(conv, norm, relu, 7);
        var x = Tensor.Randn(input, new Generator(11));
        using var _ = GradMode.NoGrad();
        unit.Eval();
        var layers = unit.Forward(x);
        Tensor folded;
        using (unit.Inference()) folded = unit.Forward(x);
        Assert.Equal(layers.Shape.ToArray(), folded.Shape.ToArray());
        float scale = Math.Max(MaxAbs(layers), 1f);
        Assert.True(MaxAbs(folded - layers) <= 2e-5f * scale, $"{name}: max |folded - layers| {MaxAbs(folded - layers)} (scale {scale})");
        if (relu) Assert.True(folded.Contiguous().ToArray().Min() >= 0f);
    }

    [Fact]
    public void NewWeightsAreFoldedAfresh()
    {
        var unit = Make(new Conv2d(8, 8, 3, padding: 1, bias: false), true, true, 3);
        var x = Tensor.Randn([1, 8, 36, 36], new Generator(5));
        var other = Make(new Conv2d(8, 8, 3, padding: 1, bias: false), true, true, 4).StateDict();
        using var _ = GradMode.NoGrad();
        Tensor before, afterLoad, afterTraining;
        using (unit.Inference())
        {
            before = unit.Forward(x);
            unit.LoadStateDict(other); // inside the scope: the folded weights must go
            afterLoad = unit.Forward(x);
        }
        unit.Eval();
        var expected = unit.Forward(x);
        Assert.True(MaxAbs(before - expected) > 0.1f, "the two weight sets give different outputs");
        Assert.True(MaxAbs(afterLoad - expected) < 1e-4f, $"after loading: {MaxAbs(afterLoad - expected)}");

        var scope = unit.Inference();
        unit.Forward(x);
        unit.Train(); // training ends the scope: an optimizer may now change the weights
        unit.Conv.Weight.CopyFrom(unit.Conv.Weight * 2f);
        unit.Eval();
        expected = unit.Forward(x);
        afterTraining = unit.Forward(x);
        scope.Dispose();
        Assert.True(MaxAbs(afterTraining - expected) < 1e-6f);
        using (unit.Inference()) Assert.True(MaxAbs(unit.Forward(x) - expected) < 1e-4f);
    }

    [Fact]
    public void WithGradientsOnTheLayersRunAsTheyAre()
    {
        var unit = Make(new Conv2d(4, 6, 3, padding: 1, bias: false), true, true, 9);
        var x = Tensor.Randn([1, 4, 8, 8], new Generator(2));
        using var _ = unit.Inference();
        var y = unit.Forward(x);
        Assert.False(y.IsLeaf); // recorded: a gradient can flow to the conv weight
    }
}
