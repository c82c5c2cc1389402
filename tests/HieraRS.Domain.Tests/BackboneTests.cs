using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>Whole backbones in training mode against PyTorch (tools/make_golden_models.py): four stage outputs, every gradient, BN statistics.</summary>
[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class BackboneTests
{
    static void Check(string fixture, Module model) =>
        Golden.CheckModule(Golden.Load("models", fixture), model, xs => ((IBackbone)model).ForwardFeatures(xs[0]), 2e-4, param: "param.", grad: "grad.");

    [Fact]
    public void ResNet50V1cDilatedToStride8MatchesPyTorch()
    {
        var m = new ResNet(50, inChannels: 4, deepStem: true, outputStride: 8, baseWidth: 8);
        Assert.Equal([32, 64, 128, 256], m.OutChannels);
        Check("resnet50_v1c_os8", m);
    }

    [Fact]
    public void ConvNeXtMatchesPyTorch() => Check("convnext_custom", new ConvNeXt([1, 1, 2, 1], [8, 16, 24, 32], inChannels: 4));

    [Fact]
    public void PublishedSizesHaveTheirNamesAndWidths()
    {
        var r101 = new ResNet(101, deepStem: true, outputStride: 8);
        Assert.Equal([256, 512, 1024, 2048], r101.OutChannels);
        // torchvision's resnet101 has 44,549,160 parameters, 2,049,000 of them in its fc; the V1c stem
        // (3x3 convs 3->32->32->64 with BN: 28,768) replaces the 7x7 one (9,408 + BN 128): +19,232
        Assert.Equal(44_549_160 - 2_049_000 + 19_232, r101.ParameterCount());
        var names = r101.NamedParameters().Select(p => p.Name).ToHashSet();
        Assert.Contains("stem.0.weight", names);
        Assert.Contains("layer3.22.conv2.weight", names);
        Assert.Contains("layer4.0.downsample.1.bias", names);
        var cb = ConvNeXt.Create("base");
        Assert.Equal([128, 256, 512, 1024], cb.OutChannels);
        Assert.Contains("stages.2.26.gamma", cb.NamedParameters().Select(p => p.Name));
        Assert.Contains("norm3.weight", cb.NamedParameters().Select(p => p.Name));
        var feats = ConvNeXt.Create("atto", 4).ForwardFeatures(Tensor.Randn([1, 4, 64, 64]));
        Assert.Equal([[1, 40, 16, 16], [1, 80, 8, 8], [1, 160, 4, 4], [1, 320, 2, 2]], feats.Select(f => f.Shape.ToArray()).ToArray());
    }
}
