using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.NN.Tests;

/// <summary>Optimizers against torch.optim over five steps with fixed gradients (tools/make_golden.py).</summary>
public class OptimizerTests
{
    static void Replay(string fixture, Func<Tensor, Tensor, Optimizer> make)
    {
        var t = Golden.Load(fixture);
        var a = t["p0"].CloneData(); var b = t["p1"].CloneData();
        a.RequiresGrad = b.RequiresGrad = true;
        var opt = make(a, b);
        for (int k = 0; k < 5; k++)
        {
            a.Grad = t[$"grad{k}.0"].CloneData(); b.Grad = t[$"grad{k}.1"].CloneData();
            opt.Step();
            Golden.AssertClose(t[$"step{k}.0"], a, 1e-5, $"{fixture} step {k} group 0");
            Golden.AssertClose(t[$"step{k}.1"], b, 1e-5, $"{fixture} step {k} group 1");
        }
    }

    [Fact]
    public void SgdNesterovWithTwoGroupsMatchesPyTorch() => Replay("optim_sgd", (a, b) =>
        new SGD([new ParamGroup([a]), new ParamGroup([b], lrMult: 0.5, decayMult: 0)], lr: 0.1, momentum: 0.9, weightDecay: 1e-2, nesterov: true));

    [Fact]
    public void SgdDampenedMatchesPyTorch() => Replay("optim_sgd_plain", (a, b) =>
        new SGD([a, b], lr: 0.1, momentum: 0.9, weightDecay: 5e-4, dampening: 0.1));

    [Fact]
    public void AdamWWithTwoGroupsMatchesPyTorch() => Replay("optim_adamw", (a, b) =>
        new AdamW([new ParamGroup([a]), new ParamGroup([b], lrMult: 10, decayMult: 0)], lr: 1e-3, weightDecay: 0.05));

    [Fact]
    public void OptimizerStateRoundTripResumesExactly()
    {
        var g = new Generator(3);
        var p1 = Tensor.Randn([4], g); var p2 = p1.CloneData();
        p1.RequiresGrad = p2.RequiresGrad = true;
        var grads = Enumerable.Range(0, 6).Select(_ => Tensor.Randn([4], g)).ToArray();
        var o1 = new AdamW([p1], lr: 0.01);
        for (int k = 0; k < 6; k++) { p1.Grad = grads[k].CloneData(); o1.Step(); }
        var o2 = new AdamW([p2], lr: 0.01);
        for (int k = 0; k < 3; k++) { p2.Grad = grads[k].CloneData(); o2.Step(); }
        var path = Path.Combine(Path.GetTempPath(), $"opt-{Guid.NewGuid()}.safetensors");
        SafeTensors.Save(path, o2.StateDict());
        var o3 = new AdamW([p2], lr: 0.01);
        o3.LoadStateDict(SafeTensors.Load(path).Tensors);
        File.Delete(path);
        for (int k = 3; k < 6; k++) { p2.Grad = grads[k].CloneData(); o3.Step(); }
        Assert.Equal(p1.ToArray(), p2.ToArray());
    }

    [Fact]
    public void ClipGradNormScalesToTheLimit()
    {
        var a = Tensor.Zeros(2); var b = Tensor.Zeros(1);
        a.Grad = Tensor.FromArray([3f, 0f], 2); b.Grad = Tensor.FromArray([4f], 1);
        double norm = GradClip.ClipGradNorm([a, b], 1.0);
        Assert.Equal(5.0, norm, 6);
        Assert.Equal(0.6f, a.Grad.ToArray()[0], 5);
        Assert.Equal(0.8f, b.Grad.ToArray()[0], 5);
    }

    [Fact]
    public void SchedulesMatchHandComputedValues()
    {
        Assert.Equal(0.01 * Math.Pow(1 - 50.0 / 100, 0.9), new PolyLr(100, 0.9).Lr(0.01, 50), 12);
        Assert.Equal(1e-4 + (0.01 - 1e-4) * 0.25, new PolyLr(100, 1.0, 1e-4).Lr(0.01, 75), 12);
        Assert.Equal(0.005, new CosineLr(100).Lr(0.01, 50), 12);
        Assert.Equal(0.001, new StepLr(30, 0.1).Lr(0.01, 45), 12);
        var warm = new WarmupLr(new PolyLr(1000, 1.0, 0, begin: 100), 100, 1e-6);
        Assert.Equal(0.01 * (1e-6 + (1 - 1e-6) * 0.5), warm.Lr(0.01, 50), 12);
        Assert.Equal(0.01, warm.Lr(0.01, 100), 12);
        Assert.Equal(0.005, warm.Lr(0.01, 550), 12);
    }
}
