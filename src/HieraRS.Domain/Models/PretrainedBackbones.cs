using System.Reflection;
using HieraRS.NN;
using HieraRS.NN.Import;

namespace HieraRS.Domain.Models;

/// <summary>
/// Pretrained backbones that come with the build: ML.NET's ImageNet ResNet-18 (NuGet
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1, MIT), a CNTK export whose last stage has three
/// blocks (2 / 2 / 2 / 3, 15.9 M parameters). Its ONNX weights are mapped onto our ResNet once and cached
/// as safetensors beside the user's other caches.
/// </summary>
public static class PretrainedBackbones
{
    /// <summary>Blocks per stage of the ImageNet ResNet-18 in the package.</summary>
    public static readonly int[] ImageNetResNet18Blocks = [2, 2, 2, 3];

    /// <summary>
    /// What the weights expect: BGR bands on a 0-255 scale minus a mean, no division. ResNetPreprocess.onnx
    /// subtracts a 224 x 224 mean image (per-pixel, std 3-6 within a channel); windows of any size take
    /// its channel means instead.
    /// </summary>
    public static readonly (string[] Order, float[] Mean, float[] Std) ImageNetResNet18Input =
        (["blue", "green", "red"], [103.0626f, 115.9029f, 123.1516f], [1f, 1f, 1f]);

    static string Metadata(string key) =>
        typeof(PretrainedBackbones).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"this build does not name {key}");

    /// <summary>Where restore put the ONNX file; an error saying how to get it when it is not there.</summary>
    public static string ImageNetResNet18Onnx()
    {
        string p = Metadata("ImageNetResNet18.onnx");
        return File.Exists(p) ? p : throw new FileNotFoundException(
            $"{p}: the ImageNet ResNet-18 is not there; 'dotnet restore' (run by scripts/setup.sh) downloads the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 that holds it", p);
    }

    /// <summary>
    /// The backbone with its ImageNet weights; with other than three input bands the first convolution
    /// goes through <paramref name="bands"/> (default: <see cref="BandAdaptation.Default"/>).
    /// </summary>
    public static ResNet ImageNetResNet18(int inChannels = 3, BandAdaptation? bands = null)
    {
        var model = new ResNet(18, inChannels, stageBlocks: ImageNetResNet18Blocks);
        PretrainedLoading.LoadInto(model, ImageNetResNet18Weights(), "ImageNet ResNet-18", bands: (n, c) => bands ?? BandAdaptation.Default(n, c));
        return model;
    }

    /// <summary>The ImageNet ResNet-18's weights by our names: mapped from the ONNX graph the first time, then read from the cache.</summary>
    public static StateDict ImageNetResNet18Weights()
    {
        string home = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        string cache = Path.Combine(home, "hierars", "resnet18_imagenet.safetensors");
        if (File.Exists(cache)) return SafeTensors.Load(cache).Tensors;
        var sd = OnnxWeights.Map(ImageNetResNet18Onnx(), new ResNet(18, 3, stageBlocks: ImageNetResNet18Blocks));
        Directory.CreateDirectory(Path.GetDirectoryName(cache)!);
        SafeTensors.Save(cache, sd, new Dictionary<string, string> { ["source"] = "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 ResNet18.onnx" });
        return sd;
    }
}
