using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>Whole blocks in training mode against PyTorch: output, input and parameter gradients, BN statistics.</summary>
[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class BlockTests
{
    static void CheckBlock(string fixture, Module m, Func<Tensor[], Tensor> forward, double rtol = 1e-4)
    {
        var t = Golden.Load(fixture);
        var sd = t.Keys.Where(k => k.StartsWith("param.")).ToDictionary(k => k["param.".Length..], k => t[k]);
        m.LoadStateDict(sd);
        m.Train();
        var xs = Enumerable.Range(0, 8).TakeWhile(k => t.ContainsKey($"x{k}")).Select(k => { var x = t[$"x{k}"]; x.RequiresGrad = true; return x; }).ToArray();
        var y = forward(xs);
        Golden.AssertClose(t["y"], y, rtol, $"{fixture}: output");
        y.Backward(t["gy"]);
        for (int k = 0; k < xs.Length; k++) Golden.AssertClose(t[$"gx{k}"], xs[k].Grad!, rtol, $"{fixture}: input gradient {k}");
        foreach (var (name, p) in m.NamedParameters())
            Golden.AssertClose(t[$"grad.{name}"], p.Grad ?? throw new Xunit.Sdk.XunitException($"{fixture}: no gradient for {name}"), rtol, $"{fixture}: gradient of {name}");
        foreach (var (name, b, _) in m.NamedBuffers().Where(b => b.Name.Contains("running")))
            Golden.AssertClose(t[$"after.{name}"], b, rtol, $"{fixture}: {name} after the step");
    }

    [Fact]
    public void ResNetBasicBlockMatchesTorchvision()
    {
        var down = new Sequential(new Conv2d(8, 16, 1, 2, bias: false), new BatchNorm2d(16));
        var block = new BasicBlock(8, 16, 2, down);
        CheckBlock("block_resnet_basic", block, x => block.Forward(x[0]));
    }

    [Fact]
    public void ConvNeXtBlockMatchesPyTorch()
    {
        var block = new ConvNeXtBlock(16);
        CheckBlock("block_convnext", block, x => block.Forward(x[0]));
    }

    [Fact]
    public void FpnHeadMatchesPyTorch()
    {
        var head = new FpnHead([8, 16, 32, 64], 12, 5);
        CheckBlock("block_fpn_head", head, head.Forward);
    }

    [Fact]
    public void ResNet18HasTorchvisionNamesAndShapes()
    {
        var sd = ResNet.ResNet18().StateDict();
        Assert.Equal(new[] { 64, 3, 7, 7 }, sd["conv1.weight"].Shape.ToArray());
        Assert.Equal(new[] { 128, 64, 1, 1 }, sd["layer2.0.downsample.0.weight"].Shape.ToArray());
        Assert.True(sd.ContainsKey("layer4.1.bn2.num_batches_tracked"));
        // torchvision resnet18 without fc: 11,176,512 parameters
        Assert.Equal(11_176_512L, ResNet.ResNet18().ParameterCount());
    }
}
