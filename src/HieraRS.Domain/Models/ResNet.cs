using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>
/// ResNet's BasicBlock (MMSegmentation / torchvision names): two 3x3 conv-BN, the first with the stride
/// and dilation, and an identity or 1x1 projection shortcut.
/// </summary>
public sealed class BasicBlock : Module
{
    public const int Expansion = 1;
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly Sequential? downsample;

    public BasicBlock(int inPlanes, int planes, int stride = 1, Sequential? downsample = null, int dilation = 1)
    {
        conv1 = Register("conv1", new Conv2d(inPlanes, planes, 3, stride, dilation, dilation, bias: false));
        bn1 = Register("bn1", new BatchNorm2d(planes));
        conv2 = Register("conv2", new Conv2d(planes, planes, 3, 1, 1, bias: false));
        bn2 = Register("bn2", new BatchNorm2d(planes));
        if (downsample is not null) this.downsample = Register("downsample", downsample);
    }

    public override Tensor Forward(Tensor x)
    {
        var identity = Shortcut.Of(downsample, x);
        var y1 = conv1.Forward(x, bn1, relu: true);
        var y2 = conv2.Forward(y1, bn2, relu: false);
        y1.Release(); // inference: the next layer's output takes its memory (a no-op while training)
        var y = y2.AddRelu(identity);
        y2.Release();
        if (identity != x) identity.Release();
        return y;
    }
}

/// <summary>The layers of a residual unit's shortcut or a deep stem, Sequential(conv, bn[, relu], ...) as torchvision names them, run through <see cref="Conv2d.Forward(Tensor, BatchNorm2d?, bool)"/>.</summary>
static class Shortcut
{
    public static Tensor Of(Sequential? downsample, Tensor x) => downsample is null ? x : ConvNormRelu(downsample, x);

    public static Tensor ConvNormRelu(Sequential layers, Tensor x)
    {
        for (int i = 0; i < layers.Count;)
        {
            if (layers[i] is not Conv2d conv) { x = layers[i++].Forward(x); continue; }
            var norm = i + 1 < layers.Count ? layers[i + 1] as BatchNorm2d : null;
            int next = i + 1 + (norm is null ? 0 : 1);
            bool relu = next < layers.Count && layers[next] is ReLU;
            x = conv.Forward(x, norm, relu);
            i = next + (relu ? 1 : 0);
        }
        return x;
    }
}

/// <summary>
/// ResNet's Bottleneck ("pytorch" style: the stride on the 3x3 conv): 1x1 reduce, 3x3 with stride and
/// dilation, 1x1 expand by 4, each with BN, and the shortcut.
/// </summary>
public sealed class Bottleneck : Module
{
    public const int Expansion = 4;
    readonly Conv2d conv1, conv2, conv3;
    readonly BatchNorm2d bn1, bn2, bn3;
    readonly Sequential? downsample;

    public Bottleneck(int inPlanes, int planes, int stride = 1, Sequential? downsample = null, int dilation = 1)
    {
        conv1 = Register("conv1", new Conv2d(inPlanes, planes, 1, bias: false));
        bn1 = Register("bn1", new BatchNorm2d(planes));
        conv2 = Register("conv2", new Conv2d(planes, planes, 3, stride, dilation, dilation, bias: false));
        bn2 = Register("bn2", new BatchNorm2d(planes));
        conv3 = Register("conv3", new Conv2d(planes, planes * Expansion, 1, bias: false));
        bn3 = Register("bn3", new BatchNorm2d(planes * Expansion));
        if (downsample is not null) this.downsample = Register("downsample", downsample);
    }

    public override Tensor Forward(Tensor x)
    {
        var identity = Shortcut.Of(downsample, x);
        var y1 = conv1.Forward(x, bn1, relu: true);
        var y2 = conv2.Forward(y1, bn2, relu: true);
        y1.Release(); // inference: later layers' outputs take their memory (a no-op while training)
        var y3 = conv3.Forward(y2, bn3, relu: false);
        y2.Release();
        var y = y3.AddRelu(identity);
        y3.Release();
        if (identity != x) identity.Release();
        return y;
    }
}

/// <summary>
/// ResNet V1 (7x7 stem: <c>conv1</c>, <c>bn1</c>, as torchvision and MMSegmentation's ResNet) or V1c
/// (three 3x3 convs: <c>stem.0 ... stem.7</c>, MMSegmentation's ResNetV1c), depth 18 / 34 (BasicBlock)
/// or 50 / 101 (Bottleneck), any number of input bands, and dilation for output stride 16 or 8 (the
/// first block of a dilated stage uses half the dilation, MMSeg's contract_dilation). Returns the four
/// stage outputs for dense prediction heads.
/// </summary>
public sealed class ResNet : Module, IStagedBackbone
{
    readonly Conv2d? conv1;
    readonly BatchNorm2d? bn1;
    readonly Sequential? stem;
    readonly Sequential[] layers;
    public int[] OutChannels { get; }

    static readonly Dictionary<int, int[]> Depths = new() { [18] = [2, 2, 2, 2], [34] = [3, 4, 6, 3], [50] = [3, 4, 6, 3], [101] = [3, 4, 23, 3] };

    /// <param name="outputStride">32 (plain), 16 (stage 4 dilated 2) or 8 (stages 3, 4 dilated 2, 4).</param>
    /// <param name="baseWidth">width of the first stage (64 in every published ResNet; smaller for tests).</param>
    /// <param name="stageBlocks">blocks per stage when they differ from the depth's (the ImageNet ResNet-18 of
    /// ML.NET's featurizer has 2 / 2 / 2 / 3); the depth still picks the block type.</param>
    public ResNet(int depth, int inChannels = 3, bool deepStem = false, int outputStride = 32, int baseWidth = 64, int[]? stageBlocks = null)
    {
        if (!Depths.TryGetValue(depth, out var blocks)) throw new ArgumentException($"ResNet depth {depth} (18, 34, 50 or 101)");
        if (stageBlocks is { } sb) blocks = sb.Length == 4 && sb.All(b => b > 0) ? sb : throw new ArgumentException($"stage blocks [{string.Join(", ", sb)}]: four positive counts");
        var (strides, dilations) = outputStride switch
        {
            32 => (new[] { 1, 2, 2, 2 }, new[] { 1, 1, 1, 1 }),
            16 => (new[] { 1, 2, 2, 1 }, new[] { 1, 1, 1, 2 }),
            8 => (new[] { 1, 2, 1, 1 }, new[] { 1, 1, 2, 4 }),
            _ => throw new ArgumentException($"output stride {outputStride} (32, 16 or 8)"),
        };
        bool bottleneck = depth >= 50;
        int expansion = bottleneck ? Bottleneck.Expansion : BasicBlock.Expansion;
        if (deepStem)
            stem = Register("stem", new Sequential(
                new Conv2d(inChannels, baseWidth / 2, 3, 2, 1, bias: false), new BatchNorm2d(baseWidth / 2), new ReLU(),
                new Conv2d(baseWidth / 2, baseWidth / 2, 3, 1, 1, bias: false), new BatchNorm2d(baseWidth / 2), new ReLU(),
                new Conv2d(baseWidth / 2, baseWidth, 3, 1, 1, bias: false), new BatchNorm2d(baseWidth), new ReLU()));
        else
        {
            conv1 = Register("conv1", new Conv2d(inChannels, baseWidth, 7, 2, 3, bias: false));
            bn1 = Register("bn1", new BatchNorm2d(baseWidth));
        }
        int inPlanes = baseWidth;
        layers = new Sequential[4];
        var widths = new[] { baseWidth, 2 * baseWidth, 4 * baseWidth, 8 * baseWidth };
        for (int s = 0; s < 4; s++)
        {
            int planes = widths[s], stride = strides[s], dilation = dilations[s];
            int first = dilation > 1 ? dilation / 2 : 1;
            var layer = new Sequential();
            for (int b = 0; b < blocks[s]; b++)
            {
                Sequential? down = null;
                if (b == 0 && (stride != 1 || inPlanes != planes * expansion))
                    down = new Sequential(new Conv2d(inPlanes, planes * expansion, 1, stride, bias: false), new BatchNorm2d(planes * expansion));
                int st = b == 0 ? stride : 1, dl = b == 0 ? first : dilation;
                layer.Append(bottleneck ? new Bottleneck(inPlanes, planes, st, down, dl) : new BasicBlock(inPlanes, planes, st, down, dl));
                inPlanes = planes * expansion;
            }
            layers[s] = Register($"layer{s + 1}", layer);
        }
        OutChannels = widths.Select(w => w * expansion).ToArray();
        InitWeights();
    }

    public static ResNet ResNet18(int inChannels = 3) => new(18, inChannels);
    public static ResNet ResNet34(int inChannels = 3) => new(34, inChannels);

    /// <summary>torchvision's init: kaiming normal (fan_out, relu) for convs, BN weight 1 and bias 0.</summary>
    void InitWeights()
    {
        foreach (var (_, m) in NamedModules())
            if (m is Conv2d c) Init.KaimingNormal(c.Weight, fanIn: false, nonlinearity: "relu");
    }

    public Tensor[] ForwardFeatures(Tensor x) => StagedBackbone.Features(this, x);

    public Tensor Stem(Tensor x)
    {
        var y = stem is not null ? Shortcut.ConvNormRelu(stem, x) : conv1!.Forward(x, bn1, relu: true);
        var pooled = F.MaxPool2d(y, 3, 2, 1);
        y.Release(); // inference: the next window's stem output takes its memory
        return pooled;
    }

    /// <summary>The blocks of layer1 ... layer4 (each stage's first block downsamples).</summary>
    public IReadOnlyList<(Module Unit, int Stage, bool Downsampler)> Units => units ??=
        Enumerable.Range(0, 4).SelectMany(s => layers[s].NamedChildren().Select(c => (c.Module, s, false))).ToList();
    List<(Module, int, bool)>? units;

    public Tensor Output(int stage, Tensor x) => x;
}
