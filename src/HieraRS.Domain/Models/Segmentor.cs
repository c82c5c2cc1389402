using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>A backbone: multi-scale features (usually 4 stages at 1/4 ... 1/32) and their channels.</summary>
public interface IBackbone
{
    int[] OutChannels { get; }
    Tensor[] ForwardFeatures(Tensor x);
}

/// <summary>
/// A backbone cut into units, in order: its blocks and (ConvNeXt) the downsamplers between stages, each
/// with the stage (0..3) it belongs to. TransLU's CDKS interacts between groups of units.
/// </summary>
public interface IStagedBackbone : IBackbone
{
    /// <summary>Everything before the first unit (ResNet: stem and max pooling; ConvNeXt: the patchify stem).</summary>
    Tensor Stem(Tensor x);
    IReadOnlyList<(Module Unit, int Stage, bool Downsampler)> Units { get; }
    /// <summary>A stage's output from its last unit's result (ConvNeXt: the output norm; ResNet: the result itself).</summary>
    Tensor Output(int stage, Tensor x);
}

public static class StagedBackbone
{
    /// <summary>The four stage outputs, unit by unit (what <see cref="IBackbone.ForwardFeatures"/> computes).</summary>
    public static Tensor[] Features(IStagedBackbone b, Tensor x)
    {
        x = b.Stem(x);
        var units = b.Units;
        var outs = new Tensor[4];
        for (int u = 0; u < units.Count; u++)
        {
            x = units[u].Unit.Forward(x);
            if (u + 1 == units.Count || units[u + 1].Stage != units[u].Stage) outs[units[u].Stage] = b.Output(units[u].Stage, x);
        }
        return outs;
    }
}

/// <summary>
/// What a training forward gives the loss: per-level logits of the decode head (at its resolution), those
/// of the auxiliary head when training with one, and the labels the decode head learns from.
/// </summary>
public class TrainingOutput(Tensor[] main, Tensor[]? aux)
{
    public Tensor[] Main { get; } = main;
    public Tensor[]? Aux { get; } = aux;

    /// <summary>The per-level labels [N, H, W] the decode head learns from: those given, unless the model says otherwise.</summary>
    /// <param name="valid">per sample, 1 where the image has data (null: everywhere)</param>
    public virtual IntTensor[] Targets(IntTensor[] labels, IReadOnlyList<byte[]?>? valid = null) => labels;
}

/// <summary>A segmentation network with a (hierarchical) decode head: training forward and prediction at the input size.</summary>
public abstract class SegmentationModel : Module
{
    public abstract DecodeHead Head { get; }
    public abstract TrainingOutput ForwardTrain(Tensor x);
    /// <summary>Per-level logits upsampled bilinearly to the input size (method.md §2.4).</summary>
    public abstract Tensor[] Predict(Tensor x);
    /// <summary>Numbers about the model's state worth following while it trains (logged with the loss); none by default.</summary>
    public virtual IReadOnlyDictionary<string, float> Diagnostics() => new Dictionary<string, float>();
}

/// <summary>
/// MMSegmentation's EncoderDecoder: <c>backbone</c>, <c>decode_head</c> (any head with the
/// hierarchical classifier) and an optional <c>auxiliary_head</c> used only in training.
/// </summary>
public sealed class Segmentor : SegmentationModel
{
    public Module Backbone { get; }
    public override DecodeHead Head { get; }
    public DecodeHead? Auxiliary { get; }

    public Segmentor(Module backbone, DecodeHead head, DecodeHead? auxiliary = null)
    {
        if (backbone is not IBackbone) throw new ArgumentException($"{backbone.GetType().Name} is not a backbone");
        Backbone = Register("backbone", backbone);
        Head = Register("decode_head", head);
        if (auxiliary is not null) Auxiliary = Register("auxiliary_head", auxiliary);
    }

    Tensor[] Features(Tensor x) => ((IBackbone)Backbone).ForwardFeatures(x);

    public override TrainingOutput ForwardTrain(Tensor x)
    {
        var f = Features(x);
        return new TrainingOutput(Head.Forward(f), Training && Auxiliary is not null ? Auxiliary.Forward(f) : null);
    }

    public override Tensor[] Predict(Tensor x)
    {
        var logits = Head.Forward(Features(x));
        return logits.Select(z =>
        {
            var up = F.Interpolate(z, x.Size(2), x.Size(3));
            z.Release(); // inference: the next window's logits take its memory
            return up;
        }).ToArray();
    }
}
