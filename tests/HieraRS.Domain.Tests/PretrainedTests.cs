using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Models;
using HieraRS.Domain.Training;
using HieraRS.NN.Import;
using HieraRS.Tensors;
using HieraRS.Testing;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = HieraRS.Tensors.Tensor;

namespace HieraRS.Domain.Tests;

/// <summary>The ImageNet ResNet-18 that the build fetches, checked against ONNX Runtime running the same file.</summary>
public class PretrainedTests
{
    [Fact]
    public void ImageNetResNet18FeaturesAgreeWithOnnxRuntime()
    {
        string onnx = PretrainedBackbones.ImageNetResNet18Onnx();
        var model = new ResNet(18, 3, stageBlocks: PretrainedBackbones.ImageNetResNet18Blocks);
        var report = PretrainedLoading.LoadInto(model, OnnxWeights.Map(onnx, model), onnx);
        Assert.Equal(model.StateDict().Keys.Count(k => !k.EndsWith("num_batches_tracked")), report.Loaded.Count); // every weight and statistic
        Assert.Equal(15_897_152, model.ParameterCount()); // the ONNX initializers less the BN statistics (counted with the onnx package)
        model.Train(false);

        // a BGR 0-255 image minus the channel means, as the package's preprocessing gives
        var rng = new Random(5);
        var x = new float[3 * 224 * 224];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 255 - 115);
        using var session = new InferenceSession(onnx);
        string input = session.InputMetadata.Keys.Single();
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, new DenseTensor(x, [1, 3, 224, 224]))]);
        var expected = results.Single().AsTensor<float>().ToArray(); // global average of the last stage: [1, 512, 1, 1]

        var features = model.ForwardFeatures(Tensor.FromArray(x, 1, 3, 224, 224))[3];
        var pooled = features.Mean([2, 3]).ToArray();
        Assert.Equal(512, expected.Length);
        Golden.AssertClose(Tensor.FromArray(expected, 512), Tensor.FromArray(pooled, 512), 1e-4, "pooled features");
    }
}

public class OnnxImportErrorTests
{
    [Fact]
    public void AGraphThatDisagreesWithTheModuleTreeIsNamedWhereItDisagrees()
    {
        string onnx = PretrainedBackbones.ImageNetResNet18Onnx();
        // torchvision's 2/2/2/2: the graph's last block has no module
        var e = Assert.Throws<InvalidDataException>(() => OnnxWeights.Map(onnx, new ResNet(18, 3)));
        Assert.Matches("the graph.s node Convolution381 \\(Conv \\[512, 512, 3, 3\\]\\) and 1 more have no module", e.Message);
        // ResNet-34's layer1 has a third block, the graph goes on to layer2's wider convolutions
        e = Assert.Throws<InvalidDataException>(() => OnnxWeights.Map(onnx, new ResNet(34, 3)));
        Assert.Contains("the module layer1.2.conv1 (Conv2d [64, 64, 3, 3]) has no counterpart in the graph", e.Message);
    }

    [Fact]
    public void ATruncatedOnnxFileIsAnErrorNamingIt()
    {
        string dir = SharedData.TempDir("hierars-onnx-");
        var bytes = File.ReadAllBytes(PretrainedBackbones.ImageNetResNet18Onnx());
        string p = Path.Combine(dir, "cut.onnx");
        File.WriteAllBytes(p, bytes[..(bytes.Length / 2)]);
        Assert.Contains(p, Assert.Throws<InvalidDataException>(() => OnnxWeights.Map(p, new ResNet(18, 3, stageBlocks: PretrainedBackbones.ImageNetResNet18Blocks))).Message);
        File.WriteAllText(p, "not a model");
        Assert.Contains(p, Assert.Throws<InvalidDataException>(() => OnnxWeights.ReadModel(p)).Message);
    }
}

/// <summary>model.pretrained in experiment configs: sources, band rules, and the normalisation the weights expect.</summary>
public class PretrainedConfigTests
{
    static ExperimentConfig Config(string model, int bands = 3) => ExperimentConfig.Parse($"""
        name: p
        data:
          train: {"{"}type: synthetic, hierarchy: mm5b, count: 2, size: 32, bands: [{string.Join(", ", Enumerable.Range(1, bands))}]{"}"}
        model: {model}
        """, "p.yaml", AppContext.BaseDirectory);

    static Segmentor Build(ExperimentConfig c, int bands) => (Segmentor)c.Model.Build(HierarchyLoader.Builtin("mm5b"), bands);

    [Fact]
    public void TheImageNetBackboneStartsFromItsWeightsWithRgbDataOnItsBgrChannels()
    {
        var c = Config("{backbone: resnet18_imagenet, head: fcn, channels: 8}");
        Assert.Equal(PretrainedSpec.ImageNet, c.Model.Pretrained!.Source);
        var model = Build(c, 3);
        var report = c.Model.Pretrained.LoadInto(model, 3);
        Assert.Single(report.Adapted);
        var imagenet = PretrainedBackbones.ImageNetResNet18Weights();
        var w = model.StateDict();
        Assert.Equal(imagenet["layer4.2.conv2.weight"].ToArray(), w["backbone.layer4.2.conv2.weight"].ToArray());
        // data band 0 (red) takes the weights' channel 2 (red of BGR), band 2 (blue) channel 0
        var src = imagenet["conv1.weight"]; var dst = w["backbone.conv1.weight"];
        Assert.Equal(src.Narrow(1, 2, 1).ToArray(), dst.Narrow(1, 0, 1).ToArray());
        Assert.Equal(src.Narrow(1, 0, 1).ToArray(), dst.Narrow(1, 2, 1).ToArray());
        // 0-255 minus the means of the package's mean image, in the data's band order; a fourth band takes their mean
        var n = c.Model.Pretrained.ExpectedNormalization(4)!;
        Assert.Equal([123.1516f, 115.9029f, 103.0626f, (123.1516f + 115.9029f + 103.0626f) / 3], n.Mean, (a, b) => Math.Abs(a - b) < 1e-3);
        Assert.Equal([1f, 1f, 1f, 1f], n.Std);
        Assert.Null(Config("{backbone: resnet18_imagenet, head: fcn, channels: 8, pretrained: none}").Model.Pretrained);
    }

    [Fact]
    public void ATorchvisionFileLoadsIntoTheBackboneWithItsFirstLayerAdaptedToFourBands()
    {
        string pt = Path.Combine(AppContext.BaseDirectory, "fixtures", "import", "torchvision_resnet18_stem.pt");
        var c = Config($"{{backbone: resnet18, head: fcn, channels: 8, pretrained: {{file: {pt}, bands: [0, 1, 2, mean]}}}}", 4);
        var model = Build(c, 4);
        var report = c.Model.Pretrained!.LoadInto(model, 4);
        Assert.Contains("backbone.layer1.1.conv2.weight", report.Loaded); // torchvision's bare names, under backbone.
        Assert.Empty(report.Skipped);
        var src = WeightFile.Read(pt)["conv1.weight"];
        var dst = model.StateDict()["backbone.conv1.weight"];
        var mean = (src.Narrow(1, 0, 1) + src.Narrow(1, 1, 1) + src.Narrow(1, 2, 1)) / 3f;
        Golden.AssertClose(src.Narrow(1, 1, 1) * 0.75f, dst.Narrow(1, 1, 1), 1e-6, "green, scaled by 3/4");
        Golden.AssertClose(mean * 0.75f, dst.Narrow(1, 3, 1), 1e-6, "the fourth band: the mean filter, scaled by 3/4");
        Assert.Null(c.Model.Pretrained.ExpectedNormalization(4)); // a file does not say; the data's normalisation holds
        var bad = Config($"{{backbone: resnet18, head: fcn, channels: 8, pretrained: {{file: {pt}, bands: [0, 1]}}}}", 4);
        Assert.Contains("names 2 bands, the data has 4", Assert.Throws<ArgumentException>(() => bad.Model.Pretrained!.LoadInto(Build(bad, 4), 4)).Message);
    }

    [Fact]
    public void BandsCanNameTheWeightsChannels()
    {
        // GaoFen-2 multispectral files hold blue, green, red, NIR: the ImageNet ResNet-18 names its channels (blue, green, red)
        var c = Config("{backbone: resnet18_imagenet, head: fcn, channels: 8, pretrained: {file: imagenet, bands: [blue, green, red, mean]}}", 4);
        Assert.Equal([0, 1, 2, -1], c.Model.Pretrained!.Bands!);
        var n = c.Model.Pretrained.ExpectedNormalization(4)!;
        Assert.Equal([103.0626f, 115.9029f, 123.1516f], n.Mean.Take(3), (a, b) => Math.Abs(a - b) < 1e-3); // each band its own channel's mean
        // a file's channels are named by the config; an unknown name is an error naming the file's channels
        string pt = Path.Combine(AppContext.BaseDirectory, "fixtures", "import", "torchvision_resnet18_stem.pt");
        var f = Config($"{{backbone: resnet18, head: fcn, channels: 8, pretrained: {{file: {pt}, channels: [red, green, blue], bands: [blue, green, red, 0]}}}}", 4);
        Assert.Equal([2, 1, 0, 0], f.Model.Pretrained!.Bands!);
        var e = Assert.ThrowsAny<Exception>(() => Config($"{{backbone: resnet18, head: fcn, channels: 8, pretrained: {{file: {pt}, channels: [red, green, blue], bands: [nir]}}}}", 1));
        Assert.Contains("'nir' is neither a channel index, 'mean' nor one of the file's channels (red, green, blue)", e.Message);
        var unnamed = Assert.ThrowsAny<Exception>(() => Config($"{{backbone: resnet18, head: fcn, channels: 8, pretrained: {{file: {pt}, bands: [red]}}}}", 1));
        Assert.Contains("channels: [red, green, blue]", unnamed.Message);
    }
}
