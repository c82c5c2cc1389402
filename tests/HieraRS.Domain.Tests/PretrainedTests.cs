using HieraRS.Domain.Models;
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
