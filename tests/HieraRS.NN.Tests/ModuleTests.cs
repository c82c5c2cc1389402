using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.NN.Tests;

public class ModuleTests
{
    sealed class Block : Module
    {
        public readonly Conv2d Conv;
        public readonly BatchNorm2d Bn;
        public readonly Sequential Head;
        public Block()
        {
            Conv = Register("conv1", new Conv2d(3, 4, 3, padding: 1, bias: false));
            Bn = Register("bn1", new BatchNorm2d(4));
            Head = Register("head", new Sequential(new ReLU(), new Conv2d(4, 2, 1)));
        }
        public override Tensor Forward(Tensor x) => Head.Forward(Bn.Forward(Conv.Forward(x)));
    }

    [Fact]
    public void NamesAndLayoutsFollowPyTorch()
    {
        var sd = new Block().StateDict();
        Assert.Equal(new[] { "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "head.1.weight", "head.1.bias" },
            sd.Keys.OrderBy(k => k.StartsWith("head") ? 2 : k.StartsWith("bn") ? 1 : 0).ThenBy(k => Array.IndexOf(new[] { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }, k.Split('.').Last())));
        Assert.Equal(new[] { 4, 3, 3, 3 }, sd["conv1.weight"].Shape.ToArray());
        Assert.Equal(DType.I64, sd.TypeOf("bn1.num_batches_tracked"));
    }

    [Fact]
    public void ABuildWithInitialisationSkippedDrawsNothingAndLoadsTheSameModel()
    {
        Engine.ManualSeed(3);
        var trained = new Block();
        var state = trained.StateDict();
        double next = Generator.Default.NextDouble();

        Engine.ManualSeed(3);
        trained = new Block();
        Block skipped;
        using (Init.Skipped()) skipped = new Block();
        Assert.Equal(next, Generator.Default.NextDouble()); // the skipped build drew no numbers
        skipped.LoadStateDict(state);
        var x = Tensor.Randn([1, 3, 5, 5], new Generator(1));
        Assert.Equal(trained.Forward(x).ToArray(), skipped.Forward(x).ToArray());
        Engine.ManualSeed(3);
        Assert.Equal(trained.Conv.Weight.ToArray(), new Block().Conv.Weight.ToArray()); // the scope ended: a build draws again
    }

    [Fact]
    public void StrictLoadReportsMissingAndUnexpectedKeys()
    {
        var m = new Block();
        var sd = new Dictionary<string, Tensor>(m.StateDict());
        sd.Remove("conv1.weight");
        sd["extra.weight"] = Tensor.Zeros(1);
        var e = Assert.Throws<InvalidDataException>(() => m.LoadStateDict(sd));
        Assert.Contains("missing keys: conv1.weight", e.Message);
        Assert.Contains("unexpected keys: extra.weight", e.Message);
        var r = m.LoadStateDict(sd, strict: false);
        Assert.Equal(new[] { "conv1.weight" }, r.MissingKeys);
        Assert.Equal(new[] { "extra.weight" }, r.UnexpectedKeys);
    }

    [Fact]
    public void ShapeMismatchNamesTheKey()
    {
        var m = new Block();
        var sd = new Dictionary<string, Tensor>(m.StateDict()) { ["bn1.weight"] = Tensor.Zeros(5) };
        var e = Assert.Throws<InvalidDataException>(() => m.LoadStateDict(sd));
        Assert.Contains("bn1.weight", e.Message);
    }

    [Fact]
    public void CheckpointRoundTripReproducesOutputs()
    {
        var a = new Block(); var b = new Block();
        var x = Tensor.Randn([2, 3, 5, 5], new Generator(1));
        a.Forward(x); // updates running stats
        a.Eval(); b.Eval();
        var path = Path.Combine(Path.GetTempPath(), $"m-{Guid.NewGuid()}.safetensors");
        SafeTensors.Save(path, a.StateDict(), new Dictionary<string, string> { ["format"] = "pt" });
        var loaded = SafeTensors.Load(path);
        File.Delete(path);
        Assert.Equal("pt", loaded.Metadata["format"]);
        Assert.Equal(DType.I64, loaded.Tensors.TypeOf("bn1.num_batches_tracked"));
        b.LoadStateDict(loaded.Tensors);
        Assert.Equal(1f, b.Bn.NumBatchesTracked!.Item());
        Assert.Equal(a.Forward(x).ToArray(), b.Forward(x).ToArray());
    }

    [Fact]
    public void TrainAndEvalReachEveryModule()
    {
        var m = new Block();
        m.Eval();
        Assert.All(m.NamedModules(), x => Assert.False(x.Module.Training));
        m.Train();
        Assert.All(m.NamedModules(), x => Assert.True(x.Module.Training));
    }

    [Fact]
    public void BatchNormEvalUsesRunningStatistics()
    {
        var bn = new BatchNorm2d(1);
        bn.RunningMean!.Span[0] = 2f; bn.RunningVar!.Span[0] = 4f;
        bn.Eval();
        var y = bn.Forward(Tensor.FromArray([4f, 6f], 1, 1, 1, 2));
        Assert.Equal(1f, y.ToArray()[0], 3); // (4-2)/sqrt(4+1e-5)
        Assert.Equal(2f, y.ToArray()[1], 3);
    }

    [Fact]
    public void DefaultInitialisationHasPyTorchBounds()
    {
        var conv = new Conv2d(16, 32, 3);
        float bound = 1f / MathF.Sqrt(16 * 9); // kaiming_uniform(a=sqrt 5) gives 1/sqrt(fan_in)
        var w = conv.Weight.ToArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.True(w.Max() > 0.9f * bound && w.Min() < -0.9f * bound);
        var t = Tensor.Empty(20000);
        Init.TruncNormal(t, 0, 0.02f, -0.04f, 0.04f, new Generator(2));
        Assert.All(t.ToArray(), v => Assert.InRange(v, -0.04f, 0.04f));
        var n = Tensor.Empty(64, 32, 3, 3);
        Init.KaimingNormal(n, fanIn: false, nonlinearity: "relu", gen: new Generator(3));
        double std = Math.Sqrt(n.ToArray().Average(v => (double)v * v));
        Assert.InRange(std, 0.97 * Math.Sqrt(2.0 / (64 * 9)), 1.03 * Math.Sqrt(2.0 / (64 * 9)));
    }
}
